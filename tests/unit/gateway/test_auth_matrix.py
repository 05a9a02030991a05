"""Scope x endpoint matrix over every route of the app: no /v1 route is reachable
without a valid key holding its scope (401 without one, 403 without the scope)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from tests.unit.gateway.auth_keys import SECRETS, headers, write_key_file
from tests.unit.gateway.test_api import FakeBackends

from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings

EXPECTED = {
    ("POST", "/v1/documents"): "write",
    ("POST", "/v1/documents/upload"): "write",
    ("DELETE", "/v1/documents/{document_id:path}"): "write",
    ("GET", "/v1/documents"): "read",
    ("GET", "/v1/documents/{document_id:path}"): "read",
    ("POST", "/v1/search"): "read",
    ("POST", "/v1/answers"): "read",
    ("POST", "/v1/feedback"): "read",
    ("GET", "/v1/sessions/{session_id:str}"): "read",
    ("GET", "/v1/analytics/summary"): "admin",
    ("POST", "/v1/collections"): "admin",
    ("GET", "/v1/collections"): "admin",
    ("GET", "/v1/collections/{name:str}"): "admin",
    ("DELETE", "/v1/collections/{name:str}"): "admin",
    ("POST", "/v1/documents:batch"): "write",
    ("GET", "/v1/models"): "read",
}
"""The policy of the known routes; a route not listed must need what its ``opt`` says
(``admin`` when it says nothing)."""
HOLDS = {"reader": {"read"}, "writer": {"write"}, "admin": {"read", "write", "admin"}}
_PARAM = re.compile(r"\{[^}]+\}")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    key_file = write_key_file(tmp_path_factory.mktemp("keys") / "keys.toml")
    settings = GatewaySettings(
        api_keys_file=key_file, rate_limit_per_minute=100_000, auth_failures_per_minute=100_000
    )
    backends = FakeBackends(settings)
    backends.reply = RuntimeError("not reached by the assertions")
    return create_app(settings, backends=backends)


@pytest.fixture(scope="module")
def client(app: Litestar) -> Iterator[TestClient[Any]]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def v1_routes(app: Litestar) -> list[tuple[str, str, str]]:
    """Every (method, path, scope needed) under /v1, from the app's own route table."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/v1"):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            declared = handler.opt.get("scope", "admin")
            found.append((method, route.path, EXPECTED.get((method, route.path), declared)))
    return found


def test_the_walk_sees_every_known_route(app: Litestar):
    walked = {(method, path) for method, path, _ in v1_routes(app)}
    assert set(EXPECTED) <= walked
    assert not any(path.startswith("/v1/v1") for _, path in walked)


def _call(client: TestClient[Any], method: str, path: str, extra: dict[str, str]) -> int:
    url = _PARAM.sub("x", path)
    return client.request(method, url, headers=extra, content=b"{}").status_code


def test_every_v1_route_needs_its_scope(app: Litestar, client: TestClient[Any]):
    checked = 0
    for method, path, scope in v1_routes(app):
        where = f"{method} {path} (needs {scope})"
        assert _call(client, method, path, {}) == 401, where
        assert _call(client, method, path, {"X-API-Key": "lk_wrong"}) == 401, where
        for name in SECRETS:
            status = _call(client, method, path, headers(name))
            if scope in HOLDS[name]:
                assert status not in (401, 403), f"{where}: {name} refused"
            else:
                assert status == 403, f"{where}: {name} got {status}"
        checked += 1
    assert checked >= len(EXPECTED)


def test_401_names_the_scheme_and_403_is_a_problem(client: TestClient[Any]):
    refused = client.post("/v1/search", json={"query": "x"})
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.headers["content-type"].startswith("application/problem+json")
    denied = client.post("/v1/documents", json={}, headers=headers("reader"))
    assert denied.status_code == 403
    assert denied.json()["status"] == 403


def test_probes_and_schema_stay_open(client: TestClient[Any]):
    assert client.get("/health/live").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_open_mode_on_loopback_serves_without_a_key(tmp_path: Path):
    settings = GatewaySettings(gateway_host="127.0.0.1")
    backends = FakeBackends(settings)
    with TestClient(create_app(settings, backends=backends)) as client:
        assert client.post("/v1/documents", json={"title": "t", "format": "text", "content": "a"})
        assert client.get("/v1/analytics/summary?top_n=1").status_code != 401
