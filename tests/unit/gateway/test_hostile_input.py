"""Hostile input at the gateway: every case a clear 4xx problem, never a 500 or a hang."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient
from tests.unit.gateway.test_api import PROBLEM, FakeBackends

from lectern.contracts import (
    DOCUMENT_ID_PATTERN,
    DeleteDocument,
    RpcError,
    SearchRequest,
    SearchResponse,
)
from lectern.reads import DocumentStatusRequest, DocumentStatusResponse, DocumentView
from lectern_gateway.app import create_app
from lectern_gateway.backends import Backends
from lectern_gateway.errors import NotFoundError, ServiceUnavailableError, UpstreamTimeoutError
from lectern_gateway.request_body import MAX_JSON_DEPTH, json_too_deep
from lectern_gateway.settings import GatewaySettings

NOW = "2026-11-21T10:00:00Z"


@pytest.fixture
def backends() -> FakeBackends:
    return FakeBackends(GatewaySettings(max_body_bytes=1024 * 1024, max_document_bytes=1000))


@pytest.fixture
def client(backends: FakeBackends) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(backends.settings, backends=backends)) as test_client:
        yield test_client


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    for leak in ("Error", "Exception", "Traceback"):
        assert leak not in body["detail"]
    return body


def _view(document_id: str, status: str = "indexed") -> DocumentStatusResponse:
    return DocumentStatusResponse(
        document=DocumentView.model_validate(
            {
                "document_id": document_id,
                "status": status,
                "version": "v" * 64,
                "chunk_count": 1,
                "first_seen_at": NOW,
                "updated_at": NOW,
            }
        )
    )


# ------------------------------------------------------------------ JSON nesting


def test_deeply_nested_filter_is_400(client: TestClient[Any], backends: FakeBackends):
    body = b'{"query": "x", "filter": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = client.post("/v1/search", content=body, headers={"content-type": "application/json"})
    problem = _assert_problem(response, 400)
    assert str(MAX_JSON_DEPTH) in problem["detail"]
    assert backends.requests == []


def test_deeply_nested_document_body_is_400(client: TestClient[Any], backends: FakeBackends):
    response = client.post(
        "/v1/documents", content=b"[" * 200_000, headers={"content-type": "application/json"}
    )
    _assert_problem(response, 400)
    assert backends.commands == []


def test_brackets_inside_strings_do_not_count(client: TestClient[Any], backends: FakeBackends):
    content = '[[[[ "quoted \\" [[[[' * 50
    response = client.post(
        "/v1/documents", json={"title": "t", "format": "text", "content": content}
    )
    assert response.status_code == 202, response.text


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=40,
)


@given(value=_JSON, limit=st.integers(min_value=0, max_value=8))
def test_json_depth_check_matches_the_structure(value: Any, limit: int):
    body = json.dumps(value).encode()
    assert json_too_deep(body, limit) == (_depth(value) > limit)


# ------------------------------------------------------------------ media type and types


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/search", {"query": "x"}),
        ("/v1/answers", {"question": "x"}),
        ("/v1/documents", {"title": "t", "format": "text", "content": "c"}),
    ],
)
def test_json_routes_refuse_text_plain(
    client: TestClient[Any], backends: FakeBackends, path: str, body: dict[str, Any]
):
    response = client.post(path, content=json.dumps(body), headers={"content-type": "text/plain"})
    _assert_problem(response, 415)
    assert backends.commands == backends.requests == []


def test_json_with_charset_and_suffix_types_are_json(
    client: TestClient[Any], backends: FakeBackends
):
    body = json.dumps({"title": "t", "format": "text", "content": "c"})
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.post(
            "/v1/documents", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"query": "x", "top_k": "5"},
        {"query": "x", "top_k": True},
        {"query": "x", "top_k": 5.5},
        {"query": "   "},
        {"query": "\t\n\u2003"},
        {"query": 5},
    ],
)
def test_search_types_are_strict(client: TestClient[Any], backends: FakeBackends, body: Any):
    _assert_problem(client.post("/v1/search", json=body), 400)
    assert backends.requests == []


def test_ingest_types_are_strict(client: TestClient[Any], backends: FakeBackends):
    response = client.post("/v1/documents", json={"title": 1, "format": "text", "content": "c"})
    _assert_problem(response, 400)
    assert backends.commands == []


# ------------------------------------------------------------------ cursors


@pytest.mark.parametrize("path", ["/v1/documents", "/v1/sessions/s1"])
@pytest.mark.parametrize("after", ["%C3%A9", "a%20b", "abc%3D", "%00"])
def test_foreign_cursors_are_400(
    client: TestClient[Any], backends: FakeBackends, path: str, after: str
):
    _assert_problem(client.get(f"{path}?after={after}"), 400)
    assert backends.requests == []


# ------------------------------------------------------------------ document ids


@pytest.mark.parametrize("document_id", ["/leading", "trailing/", "double//slash", "/"])
def test_ingest_refuses_ids_that_cannot_round_trip(
    client: TestClient[Any], backends: FakeBackends, document_id: str
):
    body = {"document_id": document_id, "title": "t", "format": "text", "content": "c"}
    _assert_problem(client.post("/v1/documents", json=body), 400)
    assert backends.commands == []


@pytest.mark.parametrize(
    "path", ["%2Fleading", "trailing%2F", "trailing/", "double//slash", "a%2F%2Fb", "%C3%A9"]
)
def test_reads_and_deletes_do_not_rewrite_the_id(
    client: TestClient[Any], backends: FakeBackends, path: str
):
    backends.reply = _view("leading")
    _assert_problem(client.get(f"/v1/documents/{path}"), 400)
    _assert_problem(client.delete(f"/v1/documents/{path}"), 400)
    assert backends.requests == backends.commands == []


@pytest.mark.parametrize("path", ["jetty/install.md", "jetty%2Finstall.md"])
def test_slashes_in_ids_round_trip(client: TestClient[Any], backends: FakeBackends, path: str):
    backends.reply = _view("jetty/install.md")
    assert client.get(f"/v1/documents/{path}").status_code == 200
    request = backends.requests[0]
    assert isinstance(request, DocumentStatusRequest)
    assert request.document_id == "jetty/install.md"


# ------------------------------------------------------------------ deletes


def test_delete_of_an_unknown_document_is_404(client: TestClient[Any], backends: FakeBackends):
    backends.reply = NotFoundError("no document ghost")
    _assert_problem(client.delete("/v1/documents/ghost"), 404)
    assert backends.commands == []


@pytest.mark.parametrize("status", ["indexed", "deleted"])
def test_delete_of_a_known_document_is_queued(
    client: TestClient[Any], backends: FakeBackends, status: str
):
    backends.reply = _view("jetty/install.md", status)
    response = client.delete("/v1/documents/jetty/install.md")
    assert response.status_code == 202, response.text
    command, _ = backends.commands[0]
    assert isinstance(command, DeleteDocument)
    assert command.document_id == "jetty/install.md"


@pytest.mark.parametrize(
    "failure",
    [
        ServiceUnavailableError("the session-logger is not running"),
        UpstreamTimeoutError("no reply within 5.0 s"),
    ],
)
def test_delete_without_the_session_logger_is_503(
    client: TestClient[Any], backends: FakeBackends, failure: Exception
):
    backends.reply = failure
    response = client.delete("/v1/documents/d1")
    _assert_problem(response, 503)
    assert response.headers["retry-after"]
    assert backends.commands == []


# ------------------------------------------------------------------ error bodies


class _ScriptedRpc:
    """An RPC client whose every call answers ``reply`` (JSON bytes)."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply

    async def call(self, queue: str, body: bytes, *, timeout: float) -> bytes:
        return self.reply


@pytest.mark.parametrize(
    ("status", "detail"),
    [(500, "KeyError"), (503, "QdrantException: storage at /var/lib/x is locked")],
)
def test_service_error_details_are_not_forwarded(status: int, detail: str):
    settings = GatewaySettings()
    fake = FakeBackends(settings)
    rpc = _ScriptedRpc(
        RpcError(status=status, title="Read failed", detail=detail).model_dump_json().encode()
    )
    real = Backends(settings=settings, broker=fake.broker, rpc=rpc)  # type: ignore[arg-type]
    with TestClient(create_app(settings, backends=real)) as client:
        response = client.get("/v1/documents/d1")
    body = _assert_problem(response, status)
    assert detail not in response.text
    assert "session-logger" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status"), [("get", "/v1/nothing", 404), ("put", "/v1/search", 405)]
)
def test_routing_errors_carry_the_request_id(
    client: TestClient[Any], method: str, path: str, status: int
):
    response = client.request(method, path, headers={"X-Request-ID": "req-42"})
    body = _assert_problem(response, status)
    assert body["request_id"] == "req-42" == response.headers["x-request-id"]
    fresh = client.request(method, path)
    assert len(fresh.json()["request_id"]) == 32


def test_integral_floats_are_json_integers(client: TestClient[Any], backends: FakeBackends):
    backends.reply = SearchResponse(hits=[], latency_ms=1.0)
    assert client.post("/v1/search", json={"query": "x", "top_k": 5.0}).status_code == 200
    request = backends.requests[0]
    assert isinstance(request, SearchRequest)
    assert request.top_k == 5


def test_filter_keys_the_indexer_cannot_use_are_400(
    client: TestClient[Any], backends: FakeBackends
):
    body = {"query": "x", "filter": {"metadata": {"bad key": "v"}}}
    _assert_problem(client.post("/v1/search", json=body), 400)
    assert backends.requests == []


@pytest.mark.parametrize("until", ["0.5", "1700000000", "2026-01-01T00:00:00", "yesterday"])
def test_analytics_times_are_iso_8601_with_a_zone(
    client: TestClient[Any], backends: FakeBackends, until: str
):
    _assert_problem(client.get(f"/v1/analytics/summary?until={until}"), 400)
    assert backends.requests == []


def test_options_allows_every_method_of_the_path(client: TestClient[Any]):
    allow = client.options("/v1/documents/jetty/install.md").headers["allow"]
    assert allow == "DELETE, GET, OPTIONS"
    assert client.options("/v1/documents").headers["allow"] == "GET, OPTIONS, POST"


# ------------------------------------------------------------------ the OpenAPI document


@pytest.fixture
def openapi(client: TestClient[Any]) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/schema/openapi.json").json()
    return document


def test_every_operation_lists_its_problems(openapi: dict[str, Any]):
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
            assert "500" in errors, (method, path)
            for status, response in errors.items():
                if path == "/health/ready" and status == "503":
                    continue
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == problem_ref, (method, path, status)
            if path.startswith("/v1"):
                assert {"400", "503"} <= set(errors), (method, path)
    documents = openapi["paths"]["/v1/documents"]
    assert {"401", "408", "413", "415", "429"} <= set(documents["post"]["responses"])


def test_v1_operations_declare_the_api_key_schemes(openapi: dict[str, Any]):
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["apiKey"]["type"] == "apiKey"
    assert (schemes["apiKey"]["name"], schemes["apiKey"]["in"]) == ("X-API-Key", "header")
    assert schemes["bearer"]["scheme"] == "bearer"
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                assert operation["security"] == [{"apiKey": []}, {"bearer": []}], (path, method)
                assert {"401", "403"} <= set(operation["responses"]), (path, method)
            else:
                assert "security" not in operation, (path, method)


def test_bodies_are_closed_and_bounded(openapi: dict[str, Any]):
    schemas = openapi["components"]["schemas"]
    for name in ("IngestDocumentBody", "SearchBody", "AnswerBody", "SearchFilter"):
        assert schemas[name]["additionalProperties"] is False, name
    search = schemas["SearchBody"]["properties"]
    assert (search["top_k"]["minimum"], search["top_k"]["maximum"]) == (1, 50)
    assert search["query"]["maxLength"] == 4096
    assert search["query"]["pattern"]
    metadata = schemas["IngestDocumentBody"]["properties"]["metadata"]
    assert (metadata["type"], metadata["maxProperties"]) == ("object", 64)
    parameters = openapi["paths"]["/v1/documents/{document_id}"]["get"]["parameters"]
    (parameter,) = [p for p in parameters if p["in"] == "path"]
    assert parameter["schema"]["pattern"] == DOCUMENT_ID_PATTERN
    assert parameter["schema"]["maxLength"] == 256


def test_metrics_are_documented_as_text(openapi: dict[str, Any]):
    content = openapi["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]
