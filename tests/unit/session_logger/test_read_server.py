from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from lectern.contracts import PingRequest, PingResponse, RpcError
from lectern.reads import (
    AnalyticsSummaryRequest,
    DocumentListRequest,
    DocumentStatusRequest,
    ReadRequest,
    SessionHistoryRequest,
)
from lectern_session_logger.db import Failure
from lectern_session_logger.errors import InvalidRequestError, NotFoundError
from lectern_session_logger.read_store import decode_cursor, encode_cursor
from lectern_session_logger.rpc_server import ReadServer
from lectern_session_logger.writer import WriteHealth


class FakeStore:
    def __init__(self, reachable: bool = True, error: Exception | None = None) -> None:
        self.reachable = reachable
        self.error = error

    async def ping(self) -> bool:
        return self.reachable

    async def document_status(self, request: DocumentStatusRequest) -> Any:
        raise self.error or NotFoundError(f"no document {request.document_id!r}")


def server(store: FakeStore, writes_ok: bool = True) -> ReadServer:
    health = WriteHealth() if writes_ok else WriteHealth(Failure.UNAVAILABLE, "08006")
    return ReadServer(store, lambda: health)  # type: ignore[arg-type]


async def test_ping_reports_store_state():
    ok = await server(FakeStore()).handle(PingRequest().model_dump_json().encode())
    assert ok == PingResponse(service="session-logger", store="postgres", store_ok=True)
    down = await server(FakeStore(reachable=False)).handle(b'{"kind": "ping"}')
    assert isinstance(down, PingResponse)
    assert not down.store_ok
    failing = await server(FakeStore(), writes_ok=False).handle(b'{"kind": "ping"}')
    assert isinstance(failing, PingResponse)
    assert not failing.store_ok
    assert failing.detail
    assert "08006" in failing.detail


async def test_ping_names_the_sqlstate_that_blocks_writes():
    health = WriteHealth(Failure.BLOCKED, "42P01")
    reply = await ReadServer(FakeStore(), lambda: health).ping()  # type: ignore[arg-type]
    assert not reply.store_ok
    assert reply.detail is not None
    assert "SQLSTATE 42P01 (undefined_table)" in reply.detail


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (None, 404),
        (InvalidRequestError("bad cursor"), 400),
        (ConnectionRefusedError("down"), 503),
        (RuntimeError("bug"), 500),
    ],
)
async def test_errors_map_to_rpc_errors(error: Exception | None, status: int):
    body = DocumentStatusRequest(document_id="d").model_dump_json().encode()
    reply = await server(FakeStore(error=error)).handle(body)
    assert isinstance(reply, RpcError)
    assert reply.status == status


@pytest.mark.parametrize(
    "body", [b"{}", b'{"kind": "nope"}', b"not json", b'{"kind": "document_status"}']
)
async def test_malformed_requests_get_400(body: bytes):
    reply = await server(FakeStore()).handle(body)
    assert isinstance(reply, RpcError)
    assert reply.status == 400


def test_requests_parse_by_kind():
    adapter: TypeAdapter[ReadRequest] = TypeAdapter(ReadRequest)
    assert isinstance(adapter.validate_json(b'{"kind": "ping"}'), PingRequest)
    request = adapter.validate_json(b'{"kind": "session_history", "session_id": "s"}')
    assert isinstance(request, SessionHistoryRequest)
    assert request.limit == 100
    listed = adapter.validate_json(b'{"kind": "document_list", "status": "failed"}')
    assert isinstance(listed, DocumentListRequest)


def test_analytics_window_is_validated():
    now = datetime.now(UTC)
    AnalyticsSummaryRequest(since=now - timedelta(days=7), until=now)
    with pytest.raises(ValidationError):
        AnalyticsSummaryRequest(since=now, until=now)
    with pytest.raises(ValidationError):
        AnalyticsSummaryRequest(since=now - timedelta(days=400), until=now)


def test_cursor_round_trip_and_malformed():
    cursor = encode_cursor("2025-01-01T00:00:00+00:00", "abc|def")
    assert decode_cursor(cursor, 2) == ["2025-01-01T00:00:00+00:00", "abc|def"]
    with pytest.raises(InvalidRequestError):
        decode_cursor("%%%", 1)
    with pytest.raises(InvalidRequestError):
        decode_cursor(encode_cursor("only-one"), 2)
