"""Documents in flight together share one Edge flush; each is acked and evented after it.

Real RabbitMQ and a real Qdrant Edge shard. The store's first flush is held (a
``threading.Event``) so that the next documents' writes queue behind it: they must then
be made durable by one flush, and no document may be announced or acknowledged before
the flush that holds its write. One of them fails inside the shared group: only it is
retried.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import aio_pika
import pytest
from tests.integration.indexer.conftest import Bus, indexer_settings, text_command
from tests.integration.indexer.test_process import _commands_held
from tests.unit.indexer.fakes import FakeEmbedder

from lectern.contracts import IngestDocument
from lectern_indexer.app import IndexerRuntime, create_app
from lectern_indexer.batching import GroupCommit
from lectern_indexer.stores.base import ChunkPoint
from lectern_indexer.stores.edge import QdrantEdgeStore

pytestmark = pytest.mark.integration

GROUP = ["doc-1", "doc-2", "doc-3", "doc-4", "bad"]
"""Documents sent while the first flush is held; ``bad``'s first write fails in the group."""


class HeldFlushStore(QdrantEdgeStore):
    """An Edge store whose first flush waits for :attr:`release`; ``bad`` fails once."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.holding = threading.Event()
        self.release = threading.Event()
        self.release.set()  # until the test holds it
        self.bad_attempts = 0
        self.groups: list[int] = []
        """Writes per flush, in order."""
        self.commits = GroupCommit(self._writer, self._flush, 64, observe=self.groups.append)

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        documents = {str(p.payload["document_id"]) for p in points}
        if "bad" in documents:
            self.bad_attempts += 1
            if self.bad_attempts == 1:  # fails inside the writer thread, in the shared group
                await self._commit(_raise_engine_error)
                return
        await super().upsert(points)

    def _flush(self) -> None:
        if not self.release.is_set():
            self.holding.set()
            self.release.wait(timeout=60)
        super()._flush()


def _raise_engine_error() -> None:
    raise RuntimeError("simulated engine write failure")


def _command(document_id: str) -> IngestDocument:
    return text_command(document_id, f"{document_id} is a short document about group commits.")


@pytest.fixture
async def held(amqp_url: str, tmp_path: Path) -> AsyncIterator[tuple[HeldFlushStore, Bus]]:
    settings = indexer_settings(amqp_url, tmp_path / "qdrant", max_concurrent_documents=8)
    store = HeldFlushStore(tmp_path / "qdrant")
    runtime = IndexerRuntime(settings, store=store, embedder=FakeEmbedder())
    app = create_app(settings, runtime)
    await app.start()
    store.release.clear()  # hold the next flush: the first ingest's
    connection = await aio_pika.connect(amqp_url)
    bus = Bus(connection)
    await bus.start()
    try:
        yield store, bus
    finally:
        store.release.set()
        await connection.close()
        await app.stop()


def _indexed(bus: Bus) -> set[str]:
    return {e["document_id"] for e in bus.events if e["event_type"] == "document.indexed"}


async def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def _until_held(amqp_url: str, count: int, timeout: float = 30) -> None:
    """Wait until the broker reports ``count`` unacknowledged commands (stats lag a few s)."""
    async with asyncio.timeout(timeout):
        while True:
            if await asyncio.to_thread(_commands_held, amqp_url) == count:
                return
            await asyncio.sleep(0.2)


async def test_documents_in_flight_share_one_flush_and_settle_after_it(
    amqp_url: str, held: tuple[HeldFlushStore, Bus]
):
    store, bus = held
    await bus.ingest(_command("first"))
    await asyncio.to_thread(store.holding.wait, 30)  # first's write is in, its flush held
    for document_id in GROUP:
        await bus.ingest(_command(document_id))
    await _until(lambda: store.commits.pending == len(GROUP))  # all queued behind it

    assert _indexed(bus) == set()  # nothing announced before its flush
    await _until_held(amqp_url, len(GROUP) + 1)  # none acknowledged while the flush is held
    assert _indexed(bus) == set()

    store.release.set()
    good = {"first", *GROUP} - {"bad"}
    await bus.wait_for(lambda e: e["event_type"] == "document.indexed", count=len(good))
    assert _indexed(bus) == good
    assert store.groups[:2] == [1, len(GROUP)]  # first alone, then the group in one flush

    # bad's write failed inside the shared group: only bad is retried, and then indexed
    (event,) = await bus.wait_for(
        lambda e: e["event_type"] == "document.indexed" and e["document_id"] == "bad"
    )
    assert event["chunk_count"] == 1
    assert store.bad_attempts == 2
    assert store.groups[2:] == [1]  # bad's retry
    assert not [e for e in bus.events if e["event_type"] == "document.failed"]
    await _until_held(amqp_url, 0)
