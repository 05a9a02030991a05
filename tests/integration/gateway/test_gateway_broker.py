"""The gateway against a real RabbitMQ with no services behind it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from litestar.testing import AsyncTestClient

from lectern import topology
from lectern.contracts import IngestDocument, content_version
from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

SLOW_TIMEOUT_S = 60.0
"""Search timeout far above any probe: only a real wait for it would reach it."""


@pytest.fixture
async def client(amqp_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = GatewaySettings(rabbitmq_url=amqp_url, search_timeout_s=SLOW_TIMEOUT_S)  # type: ignore[arg-type]
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


async def test_search_without_indexer_is_503_not_a_timeout(client: AsyncTestClient[Any]):
    # The client's search timeout is long (SLOW_TIMEOUT_S): a gateway that waited for
    # an absent indexer would answer 504 after it; the consumer probe answers 503 at once.
    response = await client.post("/v1/search", json={"query": "install gazebo"})
    assert response.status_code == 503
    assert response.json()["type"].endswith("/service-unavailable")
    assert response.headers["retry-after"]
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_ready_without_services(client: AsyncTestClient[Any]):
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["ok"] is True
    dependencies = (await client.get("/health/dependencies")).json()["dependencies"]
    assert dependencies["indexer"]["state"] == "down"
    assert dependencies["session-logger"]["state"] == "down"


async def test_ingest_waits_safely_in_the_queue(client: AsyncTestClient[Any], amqp_url: str):
    response = await client.post(
        "/v1/documents",
        json={"document_id": "d-1", "title": "T", "format": "text", "content": "hello"},
    )
    assert response.status_code == 202
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        depths = {}
        for shard in topology.indexer_shard_queues():
            declared = await channel.declare_queue(shard.name, passive=True)
            depths[shard.name] = declared.declaration_result.message_count
        (waiting,) = [name for name, depth in depths.items() if depth]
        queue = await channel.get_queue(waiting, ensure=True)
        async with queue.iterator() as messages:  # shards refuse basic.get (single consumer)
            message = await anext(aiter(messages))
        assert message.headers[topology.DOCUMENT_KEY_HEADER] == "d-1"
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        command = IngestDocument.model_validate_json(message.body)
        assert command.version == content_version("hello")
        assert command.correlation_id == response.headers["x-request-id"]
        await message.nack(requeue=True)
        events = await channel.get_queue(topology.SESSION_LOGGER_EVENTS_QUEUE, ensure=True)
        accepted = await events.get(timeout=5)
        assert accepted is not None
        assert json.loads(accepted.body)["event_type"] == "document.accepted"
    finally:
        await connection.close()
