"""A body shorter than its Content-Length: 408 from a real uvicorn, not a hung request."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from tests.faults.harness import free_port
from tests.unit.gateway.test_api import FakeBackends

from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings


@pytest.fixture
def server_port() -> Iterator[int]:
    """Serve the gateway (fake backends) with uvicorn on a free loopback port."""
    settings = GatewaySettings(body_read_timeout_s=0.5)
    app = create_app(settings, backends=FakeBackends(settings))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):
        if server.started:
            started.set()
        assert thread.is_alive(), "uvicorn did not start"
    yield port
    server.should_exit = True
    thread.join(timeout=30)


def _read_response(connection: socket.socket) -> bytes:
    """Read until the server closes the connection (it must, after a 408)."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_short_body_is_answered_408_and_closed(server_port: int):
    body = b'{"query": "x"'
    head = (
        "POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) + 100}\r\nX-Request-ID: slow-1\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server_port), timeout=30) as connection:
        connection.sendall(head + body)
        raw = _read_response(connection)
    status_line, _, rest = raw.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", raw[:300]
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in headers.lower()
    problem = json.loads(payload)
    assert problem["status"] == 408
    assert problem["request_id"] == "slow-1"


def test_a_complete_slow_body_is_served(server_port: int):
    body = json.dumps({"title": "t", "format": "text", "content": "hello"}).encode()
    head = (
        "POST /v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server_port), timeout=30) as connection:
        connection.sendall(head + body[:5])
        connection.sendall(body[5:])
        raw = _read_response(connection)
    assert raw.startswith(b"HTTP/1.1 202"), raw[:300]
