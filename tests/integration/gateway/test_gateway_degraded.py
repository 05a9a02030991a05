"""The gateway keeps serving when its dependencies are away (real RabbitMQ, real indexer).

Readiness only needs the broker; searches answer while the session-logger is away or
the broker refuses their ``SearchCompleted`` (it is republished later); answers with
``context`` answer while the indexer is away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY
from tests.integration.indexer.conftest import indexer_settings

from lectern import topology
from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings
from lectern_indexer.app import IndexerRuntime
from lectern_indexer.app import create_app as create_indexer_app

pytestmark = pytest.mark.integration


def _settings(amqp_url: str) -> GatewaySettings:
    return GatewaySettings(
        rabbitmq_url=amqp_url,  # type: ignore[arg-type]
        search_timeout_s=15.0,
        event_retry_max_s=0.2,
    )


class Gateway:
    """The gateway app in Litestar's test client, called from a worker thread.

    The test client runs the app on a loop of its own and blocks its caller for each
    request; calling it from a thread keeps this test's loop, where the in-process
    indexer runs, free to answer the gateway's RPCs.
    """

    def __init__(self, client: TestClient[Any]) -> None:
        self._client = client

    async def get(self, path: str) -> httpx.Response:
        return await asyncio.to_thread(self._client.get, path)

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await asyncio.to_thread(self._client.post, path, json=body)


@pytest.fixture
def client(amqp_url: str) -> Iterator[Gateway]:
    with TestClient(create_app(_settings(amqp_url))) as test_client:
        yield Gateway(test_client)


@pytest.fixture
async def indexer(amqp_url: str, tmp_path: Path) -> AsyncIterator[IndexerRuntime]:
    settings = indexer_settings(amqp_url, tmp_path / "qdrant")
    runtime = IndexerRuntime(settings)
    app = create_indexer_app(settings, runtime)
    await app.start()
    try:
        yield runtime
    finally:
        await app.stop()


async def _take_event(amqp_url: str, correlation_id: str, timeout: float = 60) -> dict[str, Any]:
    """Wait until an event of ``correlation_id`` is in ``session-logger.events``; take it."""
    connection = await aio_pika.connect(amqp_url)
    async with connection, asyncio.timeout(timeout):
        channel = await connection.channel()
        queue = await channel.get_queue(topology.SESSION_LOGGER_EVENTS_QUEUE, ensure=True)
        while True:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            await message.ack()
            event: dict[str, Any] = json.loads(message.body)
            if event["correlation_id"] == correlation_id:
                return event


async def _event_count(amqp_url: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.SESSION_LOGGER_EVENTS_QUEUE, passive=True)
        return int(queue.declaration_result.message_count or 0)


def _buffered() -> float:
    return REGISTRY.get_sample_value("lectern_gateway_events_buffered") or 0.0


async def _until(predicate: Callable[[], bool], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)


async def test_ready_without_indexer_or_session_logger(client: Gateway):
    ready = await client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["broker"]["ok"] is True

    report = await client.get("/health/dependencies")
    assert report.status_code == 200
    dependencies = report.json()["dependencies"]
    assert dependencies["broker"]["state"] == "up"
    assert dependencies["indexer"]["state"] == "down"
    assert dependencies["session-logger"]["state"] == "down"
    assert dependencies["vector-store"]["state"] == "unknown"
    assert dependencies["event-store"]["state"] == "unknown"
    assert "Error" not in report.text
    metrics = (await client.get("/metrics")).text
    assert 'lectern_gateway_dependency_up{dependency="broker",kind="broker"} 1.0' in metrics
    assert 'lectern_gateway_dependency_up{dependency="indexer",kind="service"} 0.0' in metrics


async def test_answer_with_context_while_the_indexer_is_away(client: Gateway, amqp_url: str):
    response = await client.post(
        "/v1/answers",
        {
            "question": "Which port does the gateway listen on?",
            "context": ["The gateway listens on port 8000.", "Unrelated text."],
        },
    )
    assert response.status_code == 200, response.text
    assert "port 8000" in response.json()["answer"]
    event = await _take_event(amqp_url, response.json()["request_id"])
    assert event["event_type"] == "answer.completed"


@pytest.mark.slow
async def test_search_without_session_logger_and_with_its_event_refused(
    client: Gateway, amqp_url: str, indexer: IndexerRuntime
):
    found = await client.post("/v1/search", {"query": "install gazebo"})
    assert found.status_code == 200, found.text
    event = await _take_event(amqp_url, found.json()["request_id"])
    assert event["event_type"] == "search.completed"

    buffered_before = _buffered()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.SESSION_LOGGER_EVENTS_QUEUE, ensure=True)
        # The broker now returns every event as unroutable: publishes are refused.
        await queue.unbind(topology.EVENTS_EXCHANGE_NAME, routing_key="#")
        refused = await client.post("/v1/search", {"query": "install gazebo"})
        assert refused.status_code == 200, refused.text
        assert _buffered() == buffered_before + 1
        assert await _event_count(amqp_url) == 0
        await queue.bind(topology.EVENTS_EXCHANGE_NAME, routing_key="#")
    republished = await _take_event(amqp_url, refused.json()["request_id"])
    assert republished["event_type"] == "search.completed"
    await _until(lambda: _buffered() == buffered_before)
