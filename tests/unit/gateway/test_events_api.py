"""``POST /v1/events`` and ``/schemas/{name}.json`` with a fake broker seam (no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.rabbit import RabbitBroker
from litestar.testing import TestClient

from lectern.contracts import EventEnvelope, IngestDocument
from lectern.message_schemas import is_reserved_event_type
from lectern.rpc import RpcClient
from lectern_gateway.app import create_app
from lectern_gateway.backends import Backends
from lectern_gateway.errors import ServiceUnavailableError
from lectern_gateway.producer_events import MAX_BATCH_EVENTS, MAX_EVENT_BYTES
from lectern_gateway.settings import GatewaySettings

PROBLEM = "application/problem+json"


class EnvelopeBackends(Backends):
    """Records published envelopes; refuses to confirm the ones listed in ``unconfirmed``."""

    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(settings=settings, broker=RabbitBroker(), rpc=RpcClient("amqp://x"))
        self.published: list[EventEnvelope] = []
        self.unconfirmed: set[uuid.UUID] = set()

    async def publish_envelope(self, envelope: EventEnvelope) -> None:
        if envelope.event_id in self.unconfirmed:
            raise ServiceUnavailableError("event not confirmed by the broker")
        self.published.append(envelope)


@pytest.fixture
def backends() -> EnvelopeBackends:
    return EnvelopeBackends(GatewaySettings())


@pytest.fixture
def client(backends: EnvelopeBackends) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(backends.settings, backends=backends)) as test_client:
        yield test_client


def _event(event_type: str = "support.ticket.closed", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "event_type": event_type,
        "session_id": "s-1",
        "ticket_id": "T-42",
        **fields,
    }


def test_one_event_is_published_with_its_own_fields(
    client: TestClient[Any], backends: EnvelopeBackends
):
    body = _event(resolution="answered by docs")
    response = client.post("/v1/events", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 1
    assert response.json()["event_ids"] == [body["event_id"]]
    (published,) = backends.published
    assert published.event_type == "support.ticket.closed"
    assert published.model_dump()["resolution"] == "answered by docs"
    assert published.correlation_id == response.headers["x-request-id"]


def test_a_batch_keeps_order_and_correlation_ids(
    client: TestClient[Any], backends: EnvelopeBackends
):
    batch = [_event(), _event("support.ticket.opened", correlation_id="ticket-run-7")]
    response = client.post("/v1/events", json=batch)
    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == [e["event_id"] for e in batch]
    assert [e.correlation_id for e in backends.published] == [
        response.headers["x-request-id"],
        "ticket-run-7",
    ]


@pytest.mark.parametrize(
    "event_type", ["document.indexed", "search.completed", "answer.completed", "document.new"]
)
def test_lecterns_own_event_types_are_refused(
    client: TestClient[Any], backends: EnvelopeBackends, event_type: str
):
    response = client.post("/v1/events", json=[_event(), _event(event_type)])
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    errors = response.json()["errors"]
    assert [e["key"] for e in errors] == ["1.event_type"]
    assert "Lectern's own" in errors[0]["message"]
    assert backends.published == []  # all or nothing


@pytest.mark.parametrize(
    "body",
    [
        {"event_type": "support.ticket.closed"},  # no event_id / occurred_at
        _event(occurred_at="2026-01-01T00:00:00"),  # naive time
        _event(event_id="not-a-uuid"),
        _event(""),
        [],
        [_event()] * (MAX_BATCH_EVENTS + 1),
        "support.ticket.closed",
    ],
)
def test_invalid_bodies_are_400_problems(
    client: TestClient[Any], backends: EnvelopeBackends, body: Any
):
    response = client.post("/v1/events", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert backends.published == []


def test_oversized_event_is_refused(client: TestClient[Any], backends: EnvelopeBackends):
    response = client.post("/v1/events", json=[_event(note="x" * MAX_EVENT_BYTES)])
    assert response.status_code == 400
    assert response.json()["errors"][0]["key"] == "0.event_type"
    assert "bytes" in response.json()["errors"][0]["message"]
    assert backends.published == []


def test_unconfirmed_publish_is_503_and_says_how_many(
    client: TestClient[Any], backends: EnvelopeBackends
):
    batch = [_event(), _event()]
    backends.unconfirmed.add(uuid.UUID(batch[1]["event_id"]))
    response = client.post("/v1/events", json=batch)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "1 of 2 events" in response.json()["detail"]


def test_events_need_a_key_when_keys_are_configured():
    backends = EnvelopeBackends(GatewaySettings(api_keys="k-123"))  # type: ignore[arg-type]
    with TestClient(create_app(backends.settings, backends=backends)) as client:
        assert client.post("/v1/events", json=_event()).status_code == 401
        ok = client.post("/v1/events", json=_event(), headers={"X-API-Key": "k-123"})
        assert ok.status_code == 202
    assert len(backends.published) == 1


def test_schemas_are_served_from_the_models(client: TestClient[Any]):
    schema = client.get("/schemas/ingest-document.json").json()
    assert schema["$id"].endswith("/ingest-document.json")
    assert schema["properties"].keys() == IngestDocument.model_fields.keys()
    assert set(schema["required"]) >= {"document_id", "version", "title", "format", "content"}
    envelope = client.get("/schemas/event-envelope.json").json()
    assert envelope["additionalProperties"] is True
    assert set(envelope["required"]) == {"event_id", "occurred_at", "event_type"}
    assert client.get("/schemas/delete-document.json").status_code == 200
    missing = client.get("/schemas/nope.json")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    ("event_type", "reserved"),
    [
        ("document.indexed", True),
        ("search.anything", True),
        ("answer.completed", True),
        ("documents.indexed", False),
        ("support.document.indexed", False),
        ("researchsearch.done", False),
    ],
)
def test_reserved_rule_is_a_prefix_rule(event_type: str, reserved: bool):
    assert is_reserved_event_type(event_type) is reserved


def test_batch_errors_name_the_item(client: TestClient[Any], backends: EnvelopeBackends):
    response = client.post("/v1/events", json=[_event(), {"event_type": "support.x"}])
    assert response.status_code == 400
    keys = {e["key"] for e in response.json()["errors"]}
    assert keys == {"1.event_id", "1.occurred_at"}
    assert backends.published == []
