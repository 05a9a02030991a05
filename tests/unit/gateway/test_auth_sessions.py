"""Private sessions at the gateway (principal stamped, owner passed on reads, random
session ids in X-Session-ID), and the browser-facing headers (security, CORS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import BaseModel
from tests.unit.gateway.auth_keys import headers, write_key_file
from tests.unit.gateway.test_api import FakeBackends

from lectern.contracts import (
    AnswerCompleted,
    Message,
    SearchCompleted,
    SearchResponse,
    SentenceScoreRequest,
    SentenceScoreResponse,
)
from lectern.reads import SessionHistoryRequest
from lectern_gateway.app import create_app
from lectern_gateway.errors import NotFoundError
from lectern_gateway.settings import GatewaySettings


@pytest.fixture
def backends(tmp_path: Path) -> FakeBackends:
    settings = GatewaySettings(api_keys_file=write_key_file(tmp_path / "keys.toml"))
    fake = FakeBackends(settings)
    fake.reply = indexer_reply
    return fake


def indexer_reply(service: str, request: Message) -> BaseModel:
    """Searches find nothing; sentence scores are all zero."""
    if isinstance(request, SentenceScoreRequest):
        return SentenceScoreResponse(scores=[0.0] * len(request.sentences), latency_ms=1.0)
    return SearchResponse(hits=[], latency_ms=1.0)


@pytest.fixture
def client(backends: FakeBackends) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(backends.settings, backends=backends)) as test_client:
        yield test_client


def test_a_search_without_session_gets_a_random_one_in_x_session_id(
    client: TestClient[Any], backends: FakeBackends
):
    first = client.post("/v1/search", json={"query": "x"}, headers=headers("reader"))
    second = client.post("/v1/search", json={"query": "x"}, headers=headers("reader"))
    session = first.headers["x-session-id"]
    assert len(session) >= 22  # 16 random bytes, url-safe base64
    assert session != second.headers["x-session-id"]
    event = backends.events[0]
    assert isinstance(event, SearchCompleted)
    assert event.session_id == session
    assert event.principal == "key:reader"


def test_a_given_session_is_kept_and_echoed(client: TestClient[Any], backends: FakeBackends):
    body = {"question": "x y", "context": ["x y z."], "session_id": "mine-1"}
    response = client.post("/v1/answers", json=body, headers=headers("writer") | headers("admin"))
    assert response.headers["x-session-id"] == "mine-1"
    event = backends.events[0]
    assert isinstance(event, AnswerCompleted)
    assert (event.session_id, event.principal) == ("mine-1", "key:admin")


@pytest.mark.parametrize(("key", "owner"), [("reader", "key:reader"), ("admin", None)])
def test_a_session_read_names_its_principal_unless_admin(
    client: TestClient[Any], backends: FakeBackends, key: str, owner: str | None
):
    backends.reply = NotFoundError("no session 's1' in the event log")
    response = client.get("/v1/sessions/s1", headers=headers(key))
    assert response.status_code == 404
    request = backends.requests[0]
    assert isinstance(request, SessionHistoryRequest)
    assert request.principal == owner


def test_open_mode_owner_is_the_client_address():
    settings = GatewaySettings()
    fake = FakeBackends(settings)
    fake.reply = SearchResponse(hits=[], latency_ms=1.0)
    with TestClient(create_app(settings, backends=fake)) as client:
        client.post("/v1/search", json={"query": "x"})
        fake.reply = NotFoundError("none")
        client.get("/v1/sessions/s1")
    assert fake.events[0].principal == "addr:testclient"
    request = fake.requests[-1]
    assert isinstance(request, SessionHistoryRequest)
    assert request.principal == "addr:testclient"


def test_every_response_has_security_headers_and_docs_a_csp(client: TestClient[Any]):
    for path in ("/health/live", "/v1/search", "/schema/openapi.json"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert (
        client.get("/health/live")
        .headers["content-security-policy"]
        .startswith("default-src 'none'")
    )
    docs = client.get("/schema/swagger")
    assert docs.status_code == 200
    csp = docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'unsafe-inline' https://cdn.jsdelivr.net" in csp


def test_no_cors_by_default(client: TestClient[Any]):
    response = client.get("/health/live", headers={"Origin": "https://widget.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins(tmp_path: Path):
    settings = GatewaySettings(
        api_keys_file=write_key_file(tmp_path / "keys.toml"),
        cors_allow_origins="https://widget.example",
    )
    with TestClient(create_app(settings, backends=FakeBackends(settings))) as client:
        preflight = {
            "Origin": "https://widget.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        }
        ok = client.options("/v1/search", headers=preflight)
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == "https://widget.example"
        evil = client.options("/v1/search", headers=preflight | {"Origin": "https://evil.example"})
        assert evil.headers.get("access-control-allow-origin") != "https://evil.example"
        refused = client.post(
            "/v1/search", json={"query": "x"}, headers={"Origin": "https://widget.example"}
        )
        assert refused.status_code == 401  # CORS never replaces the key
        assert refused.headers["access-control-allow-origin"] == "https://widget.example"
        assert "x-session-id" in refused.headers["access-control-expose-headers"].lower()
