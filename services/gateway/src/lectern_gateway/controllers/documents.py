"""``/v1/documents``: ingest, delete, status and list (thin: validate, call, return)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, MultipartBody, PathParameter
from litestar.status_codes import HTTP_202_ACCEPTED
from pydantic import TypeAdapter, ValidationError

from lectern.contracts import DOCUMENT_ID_PATTERN, DocumentId
from lectern.reads import DocumentListResponse, DocumentStatus, DocumentView
from lectern_gateway import ingest, reads
from lectern_gateway.backends import Backends
from lectern_gateway.controllers.reads import After, CollectionParam, CollectionsParam, Limit
from lectern_gateway.errors import InvalidInputError
from lectern_gateway.schemas import DocumentAcceptedBody, IngestDocumentBody, UploadForm

PathDocumentId = Annotated[
    str,
    PathParameter(
        description="the document id; its `/` may be sent as is or as `%2F`",
        schema_extra={"pattern": DOCUMENT_ID_PATTERN, "minLength": 1, "maxLength": 256},
    ),
]
_DOCUMENT_ID: TypeAdapter[str] = TypeAdapter(DocumentId)


def path_document_id(request: Request[Any, Any, Any], routed: str) -> str:
    """Return the document id as sent: the rest of the raw path after ``/v1/documents/``.

    Some servers (and the test client) keep the query string in ``raw_path``; it is cut
    off at ``?``, which no document id holds.

    The router drops empty path segments (``%2Fleading`` would become ``leading``), so
    the id is taken from ``raw_path`` and percent-decoded here, then validated.

    Args:
        request: the current request.
        routed: the router's ``{document_id:path}`` value (used without a raw path).

    Raises:
        InvalidInputError: not a valid document id (400).
    """
    raw = bytes(request.scope.get("raw_path") or b"").decode("latin-1").partition("?")[0]
    _, found, tail = raw.partition(DocumentController.path + "/")
    candidate = unquote(tail, errors="replace") if found else routed.removeprefix("/")
    try:
        return _DOCUMENT_ID.validate_python(candidate)
    except ValidationError as exc:
        raise InvalidInputError(
            "document_id must be 1-256 characters of A-Z a-z 0-9 . _ : @ + - in "
            "non-empty '/'-separated segments"
        ) from exc


class DocumentController(Controller):
    """Documents: ingest and delete (scope ``write``), status and list (scope ``read``)."""

    path = "/documents"
    tags = ["documents"]
    opt = {"scope": "read"}

    @post("/", status_code=HTTP_202_ACCEPTED, summary="Ingest a document", opt={"scope": "write"})
    async def ingest_document(
        self,
        data: JSONBody[IngestDocumentBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> DocumentAcceptedBody:
        """Queue a document for indexing; answers ``202`` with its id and version."""
        return await ingest.accept_document(backends, data, request.state.request_id)

    @post(
        "/upload",
        status_code=HTTP_202_ACCEPTED,
        summary="Ingest an uploaded file",
        opt={"scope": "write"},
    )
    async def upload_document(
        self,
        data: MultipartBody[UploadForm],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> DocumentAcceptedBody:
        """Queue an uploaded ``.md``, ``.html`` or ``.txt`` file; answers ``202``."""
        return await ingest.accept_upload(backends, data, request.state.request_id)

    @delete(
        "/{document_id:path}",
        status_code=HTTP_202_ACCEPTED,
        summary="Delete a document",
        opt={"scope": "write"},
    )
    async def delete_document(
        self,
        document_id: PathDocumentId,
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
        collection: CollectionParam = None,
    ) -> dict[str, str]:
        """Queue the removal of every chunk of a document; answers ``202``.

        ``404`` when no document with that id was ever accepted; ``503`` (``Retry-After``)
        when the session-logger, which knows the documents, cannot be asked.
        """
        document_id = path_document_id(request, document_id)
        collection = await ingest.delete_document(
            backends, document_id, request.state.request_id, collection
        )
        return {"document_id": document_id, "collection": collection, "status": "deleting"}

    @get("/", summary="List documents")
    async def list_documents(
        self,
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
        status: FromQuery[DocumentStatus | None] = None,
        limit: Limit = 50,
        after: After = None,
        collection: CollectionsParam = None,
    ) -> DocumentListResponse:
        """One page of documents by collection and id; ``after`` pages.

        ``status`` and ``collection`` filter (default: every collection the key may use).
        """
        return await reads.list_documents(
            backends,
            request.state.request_id,
            status=status,
            limit=limit,
            after=after,
            collections=collection,
        )

    @get("/{document_id:path}", summary="A document's status")
    async def document_status(
        self,
        document_id: PathDocumentId,
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
        collection: CollectionParam = None,
    ) -> DocumentView:
        """Latest status (accepted, indexed, failed, deleted), version and chunk count.

        Ids may contain ``/`` (``jetty/install.md``): the rest of the path is the id.
        """
        document_id = path_document_id(request, document_id)
        return await reads.document_status(
            backends, document_id, request.state.request_id, collection
        )
