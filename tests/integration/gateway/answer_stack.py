"""Real parts for answer tests: an in-process indexer with a few Gazebo documents, the
gateway in Litestar's test client (called from a worker thread, so this test's loop stays
free to run the indexer and the session-logger), and a reader of published events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from litestar.testing import TestClient
from tests.integration.indexer.conftest import Bus, gazebo_command, indexer_settings

from lectern import topology
from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings
from lectern_indexer.app import IndexerRuntime
from lectern_indexer.app import create_app as create_indexer_app

DOCUMENTS = ("jetty/install_osx.md", "common/fuel/about.md")
"""Two short real documents: installing Gazebo on macOS (Homebrew), and Fuel."""


class Gateway:
    """The gateway app in the sync test client, each request run in a worker thread."""

    def __init__(self, client: TestClient[Any]) -> None:
        self._client = client

    async def get(self, path: str) -> httpx.Response:
        return await asyncio.to_thread(self._client.get, path)

    async def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await asyncio.to_thread(self._client.post, path, json=body, **kwargs)


@contextmanager
def gateway(amqp_url: str, **settings: Any) -> Iterator[Gateway]:
    """A gateway on ``amqp_url`` with ``settings`` (e.g. ``llm_base_url``)."""
    values: dict[str, Any] = {
        "rabbitmq_url": amqp_url,
        "search_timeout_s": 30.0,
        "read_timeout_s": 10.0,
        "answer_score_timeout_s": 10.0,
        "llm_model": "scripted",
        **settings,
    }
    with TestClient(create_app(GatewaySettings(**values))) as client:
        yield Gateway(client)


@asynccontextmanager
async def indexed(amqp_url: str, folder: Path) -> AsyncIterator[None]:
    """Run the indexer and ingest :data:`DOCUMENTS`; yields once they are indexed."""
    settings = indexer_settings(amqp_url, folder)
    app = create_indexer_app(settings, IndexerRuntime(settings))
    await app.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        bus = Bus(connection)
        await bus.start()
        for relative in DOCUMENTS:
            await bus.ingest(gazebo_command(relative))
        await bus.wait_for(lambda e: e.get("event_type") == "document.indexed", len(DOCUMENTS))
        yield
    finally:
        await connection.close()
        await app.stop()


async def take_event(amqp_url: str, correlation_id: str, timeout: float = 60) -> dict[str, Any]:
    """Take the event of ``correlation_id`` from ``session-logger.events`` (none running)."""
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


async def until(predicate: Callable[[], Any], timeout: float = 60) -> None:
    """Wait until ``predicate()`` (maybe a coroutine function) is true."""
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.1)


def sse_events(text: str) -> list[tuple[str, Any]]:
    """The ``(event, data)`` pairs of a server-sent event stream (comments skipped)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "null"))))
    return events
