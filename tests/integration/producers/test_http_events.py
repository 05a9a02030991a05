"""``POST /v1/events`` against a real RabbitMQ (the gateway alone, no services behind it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
from litestar.testing import AsyncTestClient
from tests.e2e.conftest import Stack
from tests.integration.producers.conftest import wait_json

from lectern import topology
from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(amqp_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = GatewaySettings(rabbitmq_url=amqp_url)  # type: ignore[arg-type]
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


def _event(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "event_type": "support.ticket.closed",
        "session_id": "s-http",
        **fields,
    }


async def _drain(amqp_url: str, queue_name: str, count: int) -> list[aio_pika.IncomingMessage]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        messages = []
        for _ in range(count):
            message = await queue.get(timeout=5, no_ack=True)
            assert message is not None
            messages.append(message)
        assert await queue.get(fail=False) is None
        return messages


async def test_a_confirmed_batch_is_in_the_event_queue(client: AsyncTestClient[Any], amqp_url: str):
    batch = [_event(ticket_id="T-1"), _event(ticket_id="T-2", correlation_id="run-9")]
    response = await client.post("/v1/events", json=batch)
    assert response.status_code == 202, response.text
    request_id = response.headers["x-request-id"]

    # 202 came after the confirms: both messages are already in the durable queue.
    messages = await _drain(amqp_url, topology.SESSION_LOGGER_EVENTS_QUEUE, 2)
    bodies = [json.loads(m.body) for m in messages]
    assert [b["ticket_id"] for b in bodies] == ["T-1", "T-2"]
    assert [m.message_id for m in messages] == [e["event_id"] for e in batch]
    assert [m.correlation_id for m in messages] == [request_id, "run-9"]
    assert {m.routing_key for m in messages} == {"support.ticket.closed"}
    assert {m.delivery_mode for m in messages} == {aio_pika.DeliveryMode.PERSISTENT}
    assert {m.content_type for m in messages} == {"application/json"}


async def test_a_refused_batch_publishes_nothing(client: AsyncTestClient[Any], amqp_url: str):
    response = await client.post(
        "/v1/events", json=[_event(), _event(event_type="document.indexed")]
    )
    assert response.status_code == 400
    await _drain(amqp_url, topology.SESSION_LOGGER_EVENTS_QUEUE, 0)


@pytest.mark.slow
def test_an_http_event_lands_in_its_session_history(
    lectern: Stack, http: httpx.Client, session_id: str
):
    event = _event(session_id=session_id, ticket_id="T-3")
    response = http.post("/v1/events", json=event)
    assert response.status_code == 202, response.text
    history = wait_json(
        http, f"/v1/sessions/{session_id}", lambda b: b["event_count"] == 1, stack=lectern
    )
    (interaction,) = history["interactions"]
    assert interaction["event_id"] == event["event_id"]
    assert interaction["correlation_id"] == response.headers["x-request-id"]
    assert interaction["payload"] == {"ticket_id": "T-3"}
