"""``/v1/documents``: ingest, delete, status and list (thin: validate, call, return)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, MultipartBody, PathParameter
from litestar.status_codes import HTTP_202_ACCEPTED

from lectern.contracts import DocumentId
from lectern.reads import DocumentListResponse, DocumentStatus, DocumentView
from lectern_gateway import ingest, reads
from lectern_gateway.backends import Backends
from lectern_gateway.controllers.reads import After, Limit
from lectern_gateway.schemas import DocumentAcceptedBody, IngestDocumentBody, UploadForm


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
        document_id: Annotated[DocumentId, PathParameter(max_length=256)],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> dict[str, str]:
        """Queue the removal of every chunk of a document; answers ``202``."""
        document_id = document_id.lstrip("/")
        await ingest.delete_document(backends, document_id, request.state.request_id)
        return {"document_id": document_id, "status": "deleting"}

    @get("/", summary="List documents")
    async def list_documents(
        self,
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
        status: FromQuery[DocumentStatus | None] = None,
        limit: Limit = 50,
        after: After = None,
    ) -> DocumentListResponse:
        """One page of documents ordered by id; ``status`` filters, ``after`` pages."""
        return await reads.list_documents(
            backends, request.state.request_id, status=status, limit=limit, after=after
        )

    @get("/{document_id:path}", summary="A document's status")
    async def document_status(
        self,
        document_id: Annotated[DocumentId, PathParameter(max_length=256)],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> DocumentView:
        """Latest status (accepted, indexed, failed, deleted), version and chunk count.

        Ids may contain ``/`` (``jetty/install.md``): the rest of the path is the id.
        """
        document_id = document_id.lstrip("/")
        return await reads.document_status(backends, document_id, request.state.request_id)
