"""Transient store failures retry with back-off; exhausted retries dead-letter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aio_pika
import pytest
from tests.integration.indexer.conftest import Bus, indexer_settings, text_command
from tests.unit.indexer.fakes import FakeEmbedder

from lectern import topology
from lectern.contracts import DeleteDocument, IngestDocument, content_version
from lectern_indexer.app import IndexerRuntime, create_app
from lectern_indexer.errors import StoreUnavailableError
from lectern_indexer.stores.base import ChunkPoint
from lectern_indexer.stores.edge import QdrantEdgeStore

pytestmark = pytest.mark.integration


class FlakyStore(QdrantEdgeStore):
    """An Edge store whose upserts fail while ``failures`` is positive."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures
        self.attempts = 0

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailableError("simulated outage")
        await super().upsert(points)


@pytest.fixture
async def flaky(amqp_url: str, tmp_path: Path) -> AsyncIterator[tuple[FlakyStore, Bus]]:
    settings = indexer_settings(amqp_url, tmp_path / "qdrant")
    store = FlakyStore(tmp_path / "qdrant", failures=1)
    runtime = IndexerRuntime(settings, store=store, embedder=FakeEmbedder())
    app = create_app(settings, runtime)
    await app.start()
    connection = await aio_pika.connect(amqp_url)
    bus = Bus(connection)
    await bus.start()
    try:
        yield store, bus
    finally:
        await connection.close()
        await app.stop()


def _command(document_id: str) -> IngestDocument:
    return text_command(
        document_id,
        f"{document_id} is a short document about retries.",
        correlation_id=f"corr-{document_id}",
    )


async def test_transient_failure_is_retried_after_a_delay(flaky: tuple[FlakyStore, Bus]):
    store, bus = flaky
    await bus.ingest(_command("retry-me"))
    (event,) = await bus.wait_for(lambda e: e["event_type"] == "document.indexed", timeout=30)
    assert event["document_id"] == "retry-me"
    assert event["correlation_id"] == "corr-retry-me"
    assert store.attempts == 2
    assert not [e for e in bus.events if e["event_type"] == "document.failed"]


async def test_exhausted_retries_dead_letter_with_retryable_failure(flaky: tuple[FlakyStore, Bus]):
    store, bus = flaky
    store.failures = 1
    assert bus._channel is not None
    exchange = await bus._channel.get_exchange(topology.COMMANDS_EXCHANGE_NAME)
    await exchange.publish(
        aio_pika.Message(
            _command("give-up").model_dump_json().encode(),
            headers={topology.ATTEMPT_HEADER: 3},
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key="document.ingest",
    )
    (failed,) = await bus.wait_for(lambda e: e["event_type"] == "document.failed", timeout=30)
    assert failed["document_id"] == "give-up"
    assert failed["retryable"] is True
    assert "simulated outage" in failed["reason"]
    assert len(await bus.drain_dlq(expected=1)) == 1


class FailsVersionOnce(QdrantEdgeStore):
    """An Edge store whose first upsert of one content version fails (a transient fault)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failing_version: str | None = None

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        if self.failing_version and points[0].payload["version"] == self.failing_version:
            self.failing_version = None
            raise StoreUnavailableError("simulated outage")
        await super().upsert(points)


@pytest.fixture
async def ordered(amqp_url: str, tmp_path: Path) -> AsyncIterator[tuple[FailsVersionOnce, Bus]]:
    settings = indexer_settings(amqp_url, tmp_path / "qdrant")
    store = FailsVersionOnce(tmp_path / "qdrant")
    runtime = IndexerRuntime(settings, store=store, embedder=FakeEmbedder())
    app = create_app(settings, runtime)
    await app.start()
    connection = await aio_pika.connect(amqp_url)
    bus = Bus(connection)
    await bus.start()
    try:
        yield store, bus
    finally:
        await connection.close()
        await app.stop()


def _version(document_id: str, text: str) -> IngestDocument:
    content = f"{document_id}: {text}"
    return IngestDocument(
        document_id=document_id,
        version=content_version(content),
        title=document_id,
        format="text",
        content=content,
    )


async def test_old_version_back_from_a_retry_tier_does_not_replace_the_new_one(
    ordered: tuple[FailsVersionOnce, Bus],
):
    store, bus = ordered
    v1 = _version("ordered", "the first version, about turtles.")
    v2 = _version("ordered", "the second version, about rockets.")
    store.failing_version = v1.version
    await bus.ingest(v1)
    await bus.ingest(v2)
    outcomes = await bus.wait_for(lambda e: e["event_type"] == "document.indexed", count=2)
    assert [(e["version"], e["superseded"]) for e in outcomes] == [
        (v2.version, False),
        (v1.version, True),
    ]
    assert {p.payload["version"] for p in await store.document_points("ordered")} == {v2.version}


async def test_ingest_back_from_a_retry_tier_after_a_delete_stays_deleted(
    ordered: tuple[FailsVersionOnce, Bus],
):
    store, bus = ordered
    v1 = _version("doomed", "a document deleted while its ingest waits to retry.")
    store.failing_version = v1.version
    await bus.ingest(v1)
    await bus.publish(
        DeleteDocument(document_id="doomed").model_dump_json().encode(), "document.delete"
    )
    (deleted,) = await bus.wait_for(lambda e: e["event_type"] == "document.deleted")
    assert deleted["superseded"] is False
    (late,) = await bus.wait_for(lambda e: e["event_type"] == "document.indexed")
    assert (late["version"], late["superseded"]) == (v1.version, True)
    assert await store.document_points("doomed") == []
    assert await store.tombstone("doomed") is not None
