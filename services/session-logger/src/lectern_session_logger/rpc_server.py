"""The RPC server of ``session-logger.rpc``: parse a read request, run it, reply.

Every request gets a reply: the read's response, or :class:`lectern.contracts.RpcError`
(400 malformed request, 404 unknown session or document, 503 Postgres unavailable, 500
anything else, logged with its traceback).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, TypeAdapter, ValidationError

from lectern.contracts import PingRequest, PingResponse, RpcError
from lectern.logging import bind_correlation_id, get_logger
from lectern.reads import (
    AnalyticsSummaryRequest,
    DocumentListRequest,
    DocumentStatusRequest,
    ReadRequest,
    SessionHistoryRequest,
)
from lectern_session_logger.db import is_transient
from lectern_session_logger.errors import InvalidRequestError, NotFoundError
from lectern_session_logger.read_store import ReadStore

log = get_logger(__name__)

SERVICE_NAME = "session-logger"
READ_REQUEST: TypeAdapter[ReadRequest] = TypeAdapter(ReadRequest)

WritesOk = Callable[[], bool]
"""Returns whether the batch writer's last attempt reached Postgres."""


class ReadServer:
    """Dispatches read requests to the :class:`ReadStore`.

    Args:
        store: runs the reads.
        writes_ok: returns whether the batch writer last reached Postgres (for ping).
    """

    def __init__(self, store: ReadStore, writes_ok: WritesOk) -> None:
        self._store = store
        self._writes_ok = writes_ok

    async def handle(self, body: bytes) -> BaseModel:
        """Answer one request body (JSON) with a response model or an :class:`RpcError`."""
        try:
            request = READ_REQUEST.validate_json(body)
        except ValidationError as exc:
            return RpcError(status=400, title="Invalid request", detail=str(exc)[:2000])
        with bind_correlation_id(request.correlation_id, read=request.kind):
            try:
                return await self._dispatch(request)
            except NotFoundError as exc:
                return RpcError(status=404, title="Not found", detail=str(exc))
            except InvalidRequestError as exc:
                return RpcError(status=400, title="Invalid request", detail=str(exc))
            except Exception as exc:
                if is_transient(exc):
                    log.warning("read.store_unavailable", error=repr(exc))
                    return RpcError(
                        status=503, title="Store unavailable", detail="Postgres is unavailable"
                    )
                log.exception("read.failed")
                return RpcError(status=500, title="Read failed", detail=type(exc).__name__)

    async def _dispatch(self, request: ReadRequest) -> BaseModel:
        match request:
            case PingRequest():
                return await self.ping()
            case SessionHistoryRequest():
                return await self._store.session_history(request)
            case DocumentStatusRequest():
                return await self._store.document_status(request)
            case DocumentListRequest():
                return await self._store.document_list(request)
            case AnalyticsSummaryRequest():
                return await self._store.analytics_summary(request)

    async def ping(self) -> PingResponse:
        """Health of this service and its store: Postgres answers and writes succeed."""
        reachable = await self._store.ping()
        writes_ok = self._writes_ok()
        detail = None
        if not reachable:
            detail = "Postgres does not answer"
        elif not writes_ok:
            detail = "event writes are failing; retrying"
        return PingResponse(
            service=SERVICE_NAME,
            store="postgres",
            store_ok=reachable and writes_ok,
            detail=detail,
        )
