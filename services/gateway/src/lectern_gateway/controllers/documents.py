"""``/v1/documents``: ingest and delete (thin: validate, call the service layer, return)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_202_ACCEPTED

from lectern.contracts import DocumentId
from lectern_gateway import ingest
from lectern_gateway.auth import require_api_key
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import DocumentAcceptedBody, IngestDocumentBody


class DocumentController(Controller):
    """Document commands; writes need an API key when ``API_KEYS`` is set."""

    path = "/v1/documents"
    tags = ["documents"]
    guards = [require_api_key]

    @post("/", status_code=HTTP_202_ACCEPTED, summary="Ingest a document")
    async def ingest_document(
        self,
        data: JSONBody[IngestDocumentBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> DocumentAcceptedBody:
        """Queue a document for indexing; answers ``202`` with its id and version."""
        return await ingest.accept_document(backends, data, request.state.request_id)

    @delete("/{document_id:str}", status_code=HTTP_202_ACCEPTED, summary="Delete a document")
    async def delete_document(
        self,
        document_id: Annotated[DocumentId, Parameter(max_length=256)],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> dict[str, str]:
        """Queue the removal of every chunk of a document; answers ``202``."""
        await ingest.delete_document(backends, document_id, request.state.request_id)
        return {"document_id": document_id, "status": "deleting"}
