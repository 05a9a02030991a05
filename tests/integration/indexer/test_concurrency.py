"""Documents are processed concurrently, up to ``MAX_CONCURRENT_DOCUMENTS`` at once."""

from __future__ import annotations

import time
from pathlib import Path

import aio_pika
import pytest
from tests.integration.indexer.conftest import Bus, indexer_settings
from tests.unit.indexer.fakes import FakeEmbedder

from lectern.contracts import IngestDocument, content_version
from lectern_indexer.app import IndexerRuntime, create_app

pytestmark = pytest.mark.integration

DELAY_S = 1.5


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
    runtime = IndexerRuntime(settings, embedder=FakeEmbedder(delay_s=DELAY_S))
    app = create_app(settings, runtime)
    await app.start()
    connection = await aio_pika.connect(amqp_url)
    try:
        bus = Bus(connection)
        await bus.start()
        started = time.perf_counter()
        for n in range(documents):
            await bus.ingest(_command(n))
        await bus.wait_for(lambda e: e["event_type"] == "document.indexed", count=documents)
        elapsed = time.perf_counter() - started
    finally:
        await connection.close()
        await app.stop()
    waves = documents // limit
    assert waves * DELAY_S <= elapsed < (waves + 1) * DELAY_S, elapsed
