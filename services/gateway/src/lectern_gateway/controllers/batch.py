"""``POST /v1/documents:batch``: ingest many documents in one request (thin controller)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from lectern_gateway import batch
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import BatchIngestBody, BatchResultBody

MULTI_STATUS = 207


class BatchController(Controller):
    """Bulk ingest: the same validation and events as ``POST /v1/documents``, per item."""

    path = "/documents:batch"
    tags = ["documents"]
    opt = {"scope": "write"}

    @post(
        "/",
        status_code=MULTI_STATUS,
        summary="Ingest many documents",
        response_description="one result per document (202 accepted, or its error)",
    )
    async def ingest_batch(
        self,
        data: JSONBody[BatchIngestBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> Response[BatchResultBody]:
        """Queue every valid document; ``202`` when all were accepted, else ``207``.

        Each result carries the item's own status: ``202`` with its version, ``400``
        or ``413`` for an invalid item, ``503`` when the broker did not confirm it (send
        that item again). Up to 500 documents, within ``MAX_BODY_BYTES``.
        """
        results = await batch.accept_batch(
            backends, data.documents, request.state.request_id, data.collection
        )
        accepted = sum(1 for r in results if r.status == 202)
        body = BatchResultBody(
            accepted=accepted,
            failed=len(results) - accepted,
            results=results,
            request_id=request.state.request_id,
        )
        status = 202 if accepted == len(results) else MULTI_STATUS
        return Response(body, status_code=status)
