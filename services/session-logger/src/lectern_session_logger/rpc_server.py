"""The RPC server of ``session-logger.rpc``: parse a read request, run it, reply.

Every request gets a reply: the read's response, or :class:`lectern.contracts.RpcError`
(400 malformed request, 404 unknown session or document, 503 Postgres unavailable, 500
anything else, logged with its traceback).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
from lectern_session_logger.writer import WriteHealth

log = get_logger(__name__)

SERVICE_NAME = "session-logger"
READ_REQUEST: TypeAdapter[ReadRequest] = TypeAdapter(ReadRequest)

WriteHealthSource = Callable[[], WriteHealth]
"""Returns how the batch writer's last attempt went."""

DeadLetterDepth = Callable[[], Awaitable[int | None]]
"""Returns how many events wait in the dead-letter queue (``None``: unknown)."""


async def _unknown_depth() -> int | None:
    return None


class ReadServer:
    """Dispatches read requests to the :class:`ReadStore`.

    Args:
        store: runs the reads.
        write_health: returns the batch writer's state (for ping).
        dead_letter_depth: counts the events in ``session-logger.events.dlq`` (for the
            analytics summary).
    """

    def __init__(
        self,
        store: ReadStore,
        write_health: WriteHealthSource,
        dead_letter_depth: DeadLetterDepth = _unknown_depth,
    ) -> None:
        self._store = store
        self._write_health = write_health
        self._dead_letter_depth = dead_letter_depth

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
                summary = await self._store.analytics_summary(request)
                depth = await self._dead_letter_depth()
                return summary.model_copy(update={"dead_lettered_events": depth})

    async def ping(self) -> PingResponse:
        """Health of this service and its store: Postgres answers and writes succeed.

        When writes are blocked by a configuration error, ``detail`` names its SQLSTATE
        (``"... SQLSTATE 42P01 (undefined_table) ..."``).
        """
        reachable = await self._store.ping()
        health = self._write_health()
        detail = health.describe()
        if not reachable:
            detail = "Postgres does not answer" + (f"; {detail}" if detail else "")
        return PingResponse(
            service=SERVICE_NAME,
            store="postgres",
            store_ok=reachable and health.ok,
            detail=detail,
        )
