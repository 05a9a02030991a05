"""Service layer for document commands: validate, build the command, publish it."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from uuid import uuid4

import pydantic

from lectern.contracts import (
    DeleteDocument,
    DocumentAccepted,
    DocumentFormat,
    IngestDocument,
    content_version,
    normalise_content,
)
from lectern_gateway import reads
from lectern_gateway.backends import Backends
from lectern_gateway.collections.access import write_collection
from lectern_gateway.collections.service import known
from lectern_gateway.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)
from lectern_gateway.schemas import DocumentAcceptedBody, IngestDocumentBody, UploadForm


async def accept_document(
    backends: Backends, body: IngestDocumentBody, request_id: str
) -> DocumentAcceptedBody:
    """Queue a document for indexing and record that it was accepted.

    Publishes ``IngestDocument`` on ``lectern.commands`` and then ``DocumentAccepted`` on
    ``lectern.events``, both confirmed and persistent.

    Raises:
        ForbiddenError: the key may not use the document's collection (403).
        NotFoundError: the collection does not exist (404).
        PayloadTooLargeError: content over ``MAX_DOCUMENT_BYTES`` (UTF-8 bytes).
        InvalidInputError: content empty after normalisation.
        ServiceUnavailableError: the broker did not confirm.
    """
    collection = write_collection(body.collection)
    size = len(body.content.encode("utf-8", errors="surrogatepass"))
    if size > backends.settings.max_document_bytes:
        raise PayloadTooLargeError(
            f"content is {size} bytes; the limit is {backends.settings.max_document_bytes}"
        )
    if not normalise_content(body.content):
        raise InvalidInputError("content is empty or only white space")
    await known(backends).require(backends, collection, request_id)
    document_id = body.document_id or str(uuid4())
    version = content_version(body.content)
    command = IngestDocument(
        correlation_id=request_id,
        collection=collection,
        document_id=document_id,
        version=version,
        title=body.title,
        source=body.source,
        format=body.format,
        content=body.content,
        metadata=body.metadata,
    )
    await backends.publish_command(command, IngestDocument.ROUTING_KEY)
    await backends.publish_event(
        DocumentAccepted(
            correlation_id=request_id,
            occurred_at=command.occurred_at,
            collection=collection,
            document_id=document_id,
            version=version,
            title=body.title,
            source=body.source,
            format=body.format,
            size_bytes=size,
        )
    )
    return DocumentAcceptedBody(
        document_id=document_id, collection=collection, version=version, request_id=request_id
    )


async def delete_document(
    backends: Backends, document_id: str, request_id: str, collection: str | None = None
) -> str:
    """Queue the removal of every chunk of ``document_id`` in ``collection`` (``DeleteDocument``).

    The document must be known to the session-logger (any status, ``deleted`` included:
    deleting twice is harmless), so a delete never invents a document.

    Returns:
        The collection (``default`` when none was named).

    Raises:
        ForbiddenError: the key may not use the collection (403).
        NotFoundError: no document with that id was ever accepted in it (404).
        ServiceUnavailableError: the session-logger cannot tell (503, ``Retry-After``).
    """
    collection = write_collection(collection)
    await reads.require_document(backends, document_id, request_id, collection)
    command = DeleteDocument(
        correlation_id=request_id, document_id=document_id, collection=collection
    )
    await backends.publish_command(command, DeleteDocument.ROUTING_KEY)
    return collection


EXTENSION_FORMATS: dict[str, DocumentFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
}
CONTENT_TYPE_FORMATS: dict[str, DocumentFormat] = {
    "text/markdown": "markdown",
    "text/html": "html",
    "text/plain": "text",
}


async def accept_upload(
    backends: Backends, form: UploadForm, request_id: str
) -> DocumentAcceptedBody:
    """Accept an uploaded file: pick its format, decode it as UTF-8, then ingest it.

    Raises:
        UnsupportedFormatError: neither extension nor content type names a known format.
        PayloadTooLargeError: the file is over ``MAX_DOCUMENT_BYTES``.
        InvalidInputError: not UTF-8 text, or ``metadata`` is not a JSON object.
    """
    name = form.file.filename or ""
    suffix = PurePosixPath(name).suffix.lower()
    content_type = (form.file.content_type or "").split(";")[0].strip().lower()
    document_format = EXTENSION_FORMATS.get(suffix) or CONTENT_TYPE_FORMATS.get(content_type)
    if document_format is None:
        raise UnsupportedFormatError(
            f"cannot tell the format of {name!r} ({content_type or 'no content type'}); "
            "send .md, .html or .txt"
        )
    raw = await form.file.read(backends.settings.max_document_bytes + 1)
    if len(raw) > backends.settings.max_document_bytes:
        raise PayloadTooLargeError(
            f"the file is over the {backends.settings.max_document_bytes}-byte limit"
        )
    try:
        content = raw.decode("utf-8")
        metadata = json.loads(form.metadata) if form.metadata else {}
        body = IngestDocumentBody(
            document_id=form.document_id or None,
            title=form.title or PurePosixPath(name).stem or "untitled",
            source=form.source or name or None,
            format=document_format,
            content=content,
            metadata=metadata,
            collection=form.collection or "default",
        )
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"the file is not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"metadata is not JSON (at character {exc.pos})") from exc
    except pydantic.ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInputError(f"invalid upload fields: {fields}") from exc
    return await accept_document(backends, body, request_id)
