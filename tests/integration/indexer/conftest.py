"""Run the indexer's FastStream app in-process against a fresh vhost and Qdrant folder."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from tests.conftest import DENSE_MODEL_PATH, GAZEBO_CORPUS, SPARSE_MODEL_PATH

from lectern import topology
from lectern.contracts import IngestDocument, content_version
from lectern.rpc import RpcClient
from lectern_indexer.app import IndexerRuntime, create_app
from lectern_indexer.settings import IndexerSettings


class Bus:
    """Test-side view of RabbitMQ: publish raw commands, collect events, read a DLQ."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self._channel: aio_pika.abc.AbstractChannel | None = None

    async def start(self) -> None:
        self._channel = await self.connection.channel(publisher_confirms=True)
        queue = await self._channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(topology.EVENTS_EXCHANGE_NAME, routing_key="#")
        await queue.consume(self._on_event, no_ack=True)

    async def _on_event(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.events.append(json.loads(message.body))

    async def publish(self, body: bytes, routing_key: str = "document.ingest") -> None:
        assert self._channel is not None
        exchange = await self._channel.get_exchange(topology.COMMANDS_EXCHANGE_NAME)
        document_id = _document_id(body)
        headers = {topology.DOCUMENT_KEY_HEADER: document_id} if document_id else None
        await exchange.publish(
            aio_pika.Message(
                body, content_type="application/json", delivery_mode=2, headers=headers
            ),
            routing_key=routing_key,
            mandatory=True,
        )

    async def ingest(self, command: IngestDocument) -> None:
        await self.publish(command.model_dump_json().encode())

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], count: int = 1, timeout: float = 120
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                found = [e for e in self.events if predicate(e)]
                if len(found) >= count:
                    return found
                await asyncio.sleep(0.05)

    async def drain_dlq(self, expected: int, timeout: float = 10) -> list[bytes]:
        """Take ``expected`` messages from the dead-letter queues of every shard."""
        assert self._channel is not None
        bodies: list[bytes] = []
        async with asyncio.timeout(timeout):
            while len(bodies) < expected:
                for shard in topology.indexer_shard_queues():
                    queue = await self._channel.get_queue(topology.dlq_name(shard.name))
                    message = await queue.get(fail=False, no_ack=True)
                    if message is not None:
                        bodies.append(message.body)
                await asyncio.sleep(0.1)
        return bodies


def _document_id(body: bytes) -> str | None:
    """The ``document_id`` of a JSON command body, if it has a readable one."""
    try:
        value = json.loads(body).get("document_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def gazebo_command(relative: str, **overrides: Any) -> IngestDocument:
    """An ingest command for a file of the Gazebo corpus."""
    content = (GAZEBO_CORPUS / relative).read_text(encoding="utf-8")
    fields: dict[str, Any] = {
        "document_id": relative,
        "version": content_version(content),
        "title": content.splitlines()[0].lstrip("# ").strip() or relative,
        "source": f"gazebo-docs/{relative}",
        "format": "markdown",
        "content": content,
        "correlation_id": f"test-{relative}",
    }
    fields.update(overrides)
    return IngestDocument(**fields)


def text_command(document_id: str, content: str, **overrides: Any) -> IngestDocument:
    """A plain-text ingest command for ``content``, versioned by its content hash."""
    fields: dict[str, Any] = {
        "document_id": document_id,
        "version": content_version(content),
        "title": document_id,
        "format": "text",
        "content": content,
    }
    fields.update(overrides)
    return IngestDocument(**fields)


def indexer_settings(amqp_url: str, qdrant_path: Path, **overrides: Any) -> IndexerSettings:
    """Settings for an in-process indexer using the offline models."""
    values: dict[str, Any] = {
        "rabbitmq_url": amqp_url,
        "qdrant_path": qdrant_path,
        "qdrant_url": None,
        "embedding_model_path": DENSE_MODEL_PATH,
        "sparse_model_path": SPARSE_MODEL_PATH,
        "shutdown_grace_s": 10,
        **overrides,
    }
    return IndexerSettings(**values)


@pytest.fixture
async def indexer(amqp_url: str, tmp_path: Path) -> AsyncIterator[IndexerRuntime]:
    """The indexer app, started in this event loop; stopped after the test."""
    settings = indexer_settings(amqp_url, tmp_path / "qdrant")
    runtime = IndexerRuntime(settings)
    app = create_app(settings, runtime)
    await app.start()
    try:
        yield runtime
    finally:
        await app.stop()


@pytest.fixture
async def bus(amqp_url: str, indexer: IndexerRuntime) -> AsyncIterator[Bus]:
    connection = await aio_pika.connect(amqp_url)
    bus = Bus(connection)
    await bus.start()
    try:
        yield bus
    finally:
        await connection.close()


@pytest.fixture
async def rpc(amqp_url: str, indexer: IndexerRuntime) -> AsyncIterator[RpcClient]:
    client = RpcClient(amqp_url, name="indexer-test")
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
