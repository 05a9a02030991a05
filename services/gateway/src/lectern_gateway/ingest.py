"""Service layer for document commands: validate, build the command, publish it."""

from __future__ import annotations

from uuid import uuid4

from lectern.contracts import (
    DeleteDocument,
    DocumentAccepted,
    IngestDocument,
    content_version,
    normalise_content,
)
from lectern_gateway.backends import Backends
from lectern_gateway.errors import InvalidInputError, PayloadTooLargeError
from lectern_gateway.schemas import DocumentAcceptedBody, IngestDocumentBody


async def accept_document(
    backends: Backends, body: IngestDocumentBody, request_id: str
) -> DocumentAcceptedBody:
    """Queue a document for indexing and record that it was accepted.

    Publishes ``IngestDocument`` on ``lectern.commands`` and then ``DocumentAccepted`` on
    ``lectern.events``, both confirmed and persistent.

    Raises:
        PayloadTooLargeError: content over ``MAX_DOCUMENT_BYTES`` (UTF-8 bytes).
        InvalidInputError: content empty after normalisation.
        ServiceUnavailableError: the broker did not confirm.
    """
    size = len(body.content.encode("utf-8", errors="surrogatepass"))
    if size > backends.settings.max_document_bytes:
        raise PayloadTooLargeError(
            f"content is {size} bytes; the limit is {backends.settings.max_document_bytes}"
        )
    if not normalise_content(body.content):
        raise InvalidInputError("content is empty or only white space")
    document_id = body.document_id or str(uuid4())
    version = content_version(body.content)
    command = IngestDocument(
        correlation_id=request_id,
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
            document_id=document_id,
            version=version,
            title=body.title,
            source=body.source,
            format=body.format,
            size_bytes=size,
        )
    )
    return DocumentAcceptedBody(document_id=document_id, version=version, request_id=request_id)


async def delete_document(backends: Backends, document_id: str, request_id: str) -> None:
    """Queue the removal of every chunk of ``document_id`` (``DeleteDocument``)."""
    command = DeleteDocument(correlation_id=request_id, document_id=document_id)
    await backends.publish_command(command, DeleteDocument.ROUTING_KEY)
