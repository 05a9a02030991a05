"""Documents are processed concurrently, up to ``MAX_CONCURRENT_DOCUMENTS`` at once.

The embedder counts the calls in flight and keeps the peak: it must reach the limit
(documents overlap) and never pass it. No wall-clock measurement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import aio_pika
import pytest
from tests.integration.indexer.conftest import Bus, indexer_settings
from tests.unit.indexer.fakes import FakeEmbedder

from lectern.contracts import IngestDocument, content_version
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
    content = f"Document number {n} about concurrency."
    return IngestDocument(
        document_id=f"doc-{n}",
        version=content_version(content),
        title=f"Doc {n}",
        format="text",
        content=content,
    )


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
