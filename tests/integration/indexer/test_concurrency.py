"""Documents are processed concurrently, up to ``MAX_CONCURRENT_DOCUMENTS`` at once.

On shutdown the admitted documents finish and the others go back to their queues.

The embedder counts the calls in flight and keeps the peak: it must reach the limit
(documents overlap) and never pass it. No wall-clock measurement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import aio_pika
import pytest
from tests.integration.indexer.conftest import Bus, indexer_settings, text_command
from tests.unit.indexer.fakes import FakeEmbedder

from lectern import topology
from lectern.contracts import IngestDocument
from lectern_indexer.app import IndexerRuntime, create_app
from lectern_indexer.embedding import Embedding

pytestmark = pytest.mark.integration

HOLD_S = 0.5
"""How long each embedding call lasts, so that documents allowed at once overlap."""


class PeakEmbedder(FakeEmbedder):
    """A :class:`FakeEmbedder` that records the most document embeddings in flight."""

    def __init__(self) -> None:
        super().__init__(delay_s=HOLD_S)
        self.in_flight = 0
        self.peak = 0

    async def embed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await super().embed_documents(texts)
        finally:
            self.in_flight -= 1


def _command(n: int) -> IngestDocument:
    return text_command(f"doc-{n}", f"Document number {n} about concurrency.", title=f"Doc {n}")


@pytest.mark.parametrize(("limit", "documents"), [(2, 4), (1, 2)])
async def test_concurrent_documents_are_bounded(
    amqp_url: str, tmp_path: Path, limit: int, documents: int
):
    settings = indexer_settings(amqp_url, tmp_path / "qdrant", max_concurrent_documents=limit)
    embedder = PeakEmbedder()
    runtime = IndexerRuntime(settings, embedder=embedder)
    app = create_app(settings, runtime)
    await app.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        bus = Bus(connection)
        await bus.start()
        await asyncio.gather(*(bus.ingest(_command(n)) for n in range(documents)))
        await bus.wait_for(lambda e: e["event_type"] == "document.indexed", count=documents)
    finally:
        await connection.close()
        await app.stop()
    assert embedder.peak == limit


class GateEmbedder(FakeEmbedder):
    """A :class:`FakeEmbedder` whose calls wait until :attr:`release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def embed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        self.entered.set()
        await self.release.wait()
        return await super().embed_documents(texts)


async def _ready_commands(channel: aio_pika.abc.AbstractChannel) -> int:
    total = 0
    for shard in topology.indexer_shard_queues():
        queue = await channel.declare_queue(shard.name, passive=True)
        total += queue.declaration_result.message_count or 0
    return total


async def test_shutdown_finishes_admitted_documents_and_hands_back_the_rest(
    amqp_url: str, tmp_path: Path
):
    settings = indexer_settings(amqp_url, tmp_path / "qdrant", max_concurrent_documents=1)
    embedder = GateEmbedder()
    runtime = IndexerRuntime(settings, embedder=embedder)
    app = create_app(settings, runtime)
    await app.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        bus = Bus(connection)
        await bus.start()
        await asyncio.gather(*(bus.ingest(_command(n)) for n in range(3)))
        await embedder.entered.wait()  # one document admitted; the others wait or queue
        stopping = asyncio.create_task(app.stop())
        async with asyncio.timeout(30):
            while True:
                if runtime.admission.stopping:
                    break
                await asyncio.sleep(0.01)
        embedder.release.set()  # the admitted document may now finish
        await stopping
        (indexed,) = await bus.wait_for(lambda e: e["event_type"] == "document.indexed")
        channel = await connection.channel()
        async with asyncio.timeout(30):  # the other two are back in their queues, unstarted
            while True:
                if await _ready_commands(channel) == 2:
                    break
                await asyncio.sleep(0.1)
        assert [e for e in bus.events if e["event_type"] == "document.indexed"] == [indexed]

        again = create_app(settings, IndexerRuntime(settings, embedder=FakeEmbedder()))
        await again.start()
        try:
            found = await bus.wait_for(lambda e: e["event_type"] == "document.indexed", count=3)
        finally:
            await again.stop()
        assert {e["document_id"] for e in found} == {f"doc-{n}" for n in range(3)}
    finally:
        await connection.close()
        embedder.release.set()
