"""``POST /v1/documents:batch``: per-item validation, one result each, same events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from tests.unit.gateway.test_api import FakeBackends

from lectern.contracts import DocumentAccepted, IngestDocument, Message
from lectern_gateway.app import create_app
from lectern_gateway.errors import ServiceUnavailableError
from lectern_gateway.settings import GatewaySettings

URL = "/v1/documents:batch"


@pytest.fixture
def backends() -> FakeBackends:
    return FakeBackends(GatewaySettings(max_body_bytes=256 * 1024, max_document_bytes=1000))


@pytest.fixture
def client(backends: FakeBackends) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(backends.settings, backends=backends)) as test_client:
        yield test_client


def doc(document_id: str, content: str = "# T\n\nsome text") -> dict[str, Any]:
    return {"document_id": document_id, "title": "T", "format": "markdown", "content": content}


def test_all_valid_is_202_with_a_command_and_event_each(
    client: TestClient[Any], backends: FakeBackends
):
    response = client.post(URL, json={"documents": [doc("a"), doc("b"), doc("c")]})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["failed"]) == (3, 0)
    assert [r["document_id"] for r in body["results"]] == ["a", "b", "c"]
    assert all(r["status"] == 202 and len(r["version"]) == 64 for r in body["results"])
    commands = [c for c, _ in backends.commands]
    assert sorted(c.document_id for c in commands if isinstance(c, IngestDocument)) == [
        "a",
        "b",
        "c",
    ]
    accepted = [e for e in backends.events if isinstance(e, DocumentAccepted)]
    assert sorted(e.document_id for e in accepted) == ["a", "b", "c"]
    assert {c.correlation_id for c in commands} == {body["request_id"]}


def test_bad_items_fail_alone_with_their_own_status(
    client: TestClient[Any], backends: FakeBackends
):
    items = [
        doc("ok"),
        {"title": "T", "format": "pdf", "content": "x"},
        doc("big", "x" * 2000),
        doc("blank", "   "),
        {"document_id": "extra", "title": "T", "format": "text", "content": "x", "oops": 1},
    ]
    response = client.post(URL, json={"documents": items})
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 400, 413, 400, 400]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert all(r["detail"] for r in results[1:])
    assert [c.document_id for c, _ in backends.commands] == ["ok"]  # type: ignore[attr-defined]


def test_unconfirmed_item_is_503_in_its_result(client: TestClient[Any], backends: FakeBackends):
    async def refuse(command: Message, routing_key: str) -> None:
        if getattr(command, "document_id", "") == "b":
            raise ServiceUnavailableError("command not confirmed")
        backends.commands.append((command, routing_key))

    backends.publish_command = refuse  # type: ignore[method-assign]
    response = client.post(URL, json={"documents": [doc("a"), doc("b")]})
    assert response.status_code == 207
    assert [r["status"] for r in response.json()["results"]] == [202, 503]


@pytest.mark.parametrize(
    "body", [{"documents": []}, {"documents": [doc("a")] * 501}, {"docs": [doc("a")]}, []]
)
def test_batch_shape_errors_are_400_problems(client: TestClient[Any], body: Any):
    response = client.post(URL, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_single_document_routes_still_route(client: TestClient[Any]):
    assert client.post("/v1/documents", json=doc("solo")).status_code == 202


@settings(max_examples=30, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=12))
def test_results_follow_request_order(valid: list[bool]):
    backends = FakeBackends(GatewaySettings(max_document_bytes=1000))
    items = [doc(f"d{i}") if ok else {"document_id": f"d{i}"} for i, ok in enumerate(valid)]
    with TestClient(create_app(backends.settings, backends=backends)) as client:
        response = client.post(URL, json={"documents": items})
    results = response.json()["results"]
    assert [r["document_id"] for r in results] == [f"d{i}" for i in range(len(valid))]
    assert [r["status"] == 202 for r in results] == valid
    assert response.status_code == (202 if all(valid) else 207)
