"""Fault scenarios of the ingest path: a killed indexer, an absent indexer."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from lectern import topology
from lectern.contracts import IngestDocument, content_version
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.parsing import parse_document
from lectern_indexer.settings import IndexerSettings
from lectern_indexer.stores import create_store
from tests.conftest import DENSE_MODEL_PATH, GAZEBO_CORPUS
from tests.faults.clients import Ledger, publish_all, queue_depth, recording
from tests.faults.harness import RA_DIRECTORY_SAVE_S, ServiceGroup, count_outcomes, report

pytestmark = pytest.mark.faults

DOCUMENT_COUNT = 50
LINES_PER_DOCUMENT = 40
"""Each document is the head of a real Gazebo page, so 50 of them embed in about a minute."""


def gazebo_documents(count: int) -> list[IngestDocument]:
    """``count`` real Gazebo documents (their first lines), as ingest commands."""
    paths = sorted(GAZEBO_CORPUS.rglob("*.md"))[:count]
    commands = []
    for path in paths:
        content = "\n".join(path.read_text(encoding="utf-8").splitlines()[:LINES_PER_DOCUMENT])
        document_id = path.relative_to(GAZEBO_CORPUS).as_posix()
        commands.append(
            IngestDocument(
                document_id=document_id,
                version=content_version(content),
                title=path.stem,
                source=document_id,
                format="markdown",
                content=content,
            )
        )
    return commands


def expected_chunks(commands: list[IngestDocument]) -> dict[str, int]:
    """Chunk count per document by the indexer's own parser and chunker."""
    chunker = Chunker(WordPieceCounter.from_model_path(DENSE_MODEL_PATH))
    return {
        c.document_id: len(chunker.chunk(c.title, parse_document(c.content, c.format)))
        for c in commands
    }


async def stored_points(qdrant_path: Path, document_ids: list[str]) -> dict[str, list[str]]:
    """Point versions per document, read from the (stopped) indexer's embedded store."""
    store = create_store(IndexerSettings(qdrant_path=qdrant_path, qdrant_url=None))
    await store.open()
    try:
        return {
            doc: [str(point.payload.get("version")) for point in await store.document_points(doc)]
            for doc in document_ids
        }
    finally:
        await store.close()


async def test_kill_9_indexer_mid_ingest_loses_and_duplicates_nothing(
    fault_env: dict[str, str], services: ServiceGroup
):
    commands = gazebo_documents(DOCUMENT_COUNT)
    expected = expected_chunks(commands)
    indexer = services.start("indexer", fault_env)
    await asyncio.to_thread(indexer.wait_for_log, "indexer.ready", timeout=120)
    await asyncio.sleep(RA_DIRECTORY_SAVE_S)
    ledger = Ledger()
    async with recording(fault_env["RABBITMQ_URL"], "document.*") as recorder:
        await publish_all(fault_env["RABBITMQ_URL"], commands, ledger)

        def indexed_ids(r: object) -> set[object]:
            return {e["document_id"] for e in recorder.of_type("document.indexed")}

        await recorder.wait_for(lambda r: len(indexed_ids(r)) >= 10, 300, "10 documents")
        await asyncio.to_thread(indexer.kill)
        killed_after = len(indexed_ids(recorder))
        await asyncio.to_thread(indexer.start)
        await recorder.wait_for(
            lambda r: len(indexed_ids(r)) >= DOCUMENT_COUNT, 600, "every document indexed"
        )
        assert not recorder.of_type("document.failed")
    assert await asyncio.to_thread(indexer.terminate) == 0
    points = await stored_points(Path(fault_env["QDRANT_PATH"]), list(expected))
    versions = {c.document_id: c.version for c in commands}
    complete = [doc for doc, vs in points.items() if vs.count(versions[doc]) == expected[doc]]
    extra_points = sum(
        len(vs) - expected[doc] for doc, vs in points.items() if len(vs) > expected[doc]
    )
    document_of = {str(c.event_id): c.document_id for c in commands}
    counts = count_outcomes(
        "indexer-kill-9",
        sent=[document_of[i] for i in ledger.sent],
        confirmed=[document_of[i] for i in ledger.confirmed],
        stored=complete,
    )
    total_points = sum(len(vs) for vs in points.values())
    report(
        f"indexer-kill-9: killed after {killed_after} documents; points={total_points} "
        f"expected={sum(expected.values())} extra={extra_points}"
    )
    assert len(ledger.confirmed) == DOCUMENT_COUNT
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert extra_points == 0
    assert total_points == sum(expected.values())


async def test_search_is_503_while_the_indexer_is_away_and_commands_wait(
    fault_env: dict[str, str], services: ServiceGroup
):
    fault_env = fault_env | {"SEARCH_TIMEOUT_S": "60"}  # a wait for it would be a 504
    gateway = services.start("gateway", fault_env)
    await asyncio.to_thread(gateway.wait_http_ok, "/health/live", timeout=60)
    base_url = f"http://127.0.0.1:{gateway.port}"
    commands = gazebo_documents(3)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        started = time.perf_counter()
        response = await client.post("/v1/search", json={"query": "install on macOS"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 503, response.text
        assert response.json()["type"].endswith("/service-unavailable")
        assert response.headers["retry-after"]
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, "readiness needs only the broker"
        dependencies = (await client.get("/health/dependencies")).json()["dependencies"]
        assert dependencies["indexer"]["state"] == "down"
        for command in commands:
            accepted = await client.post(
                "/v1/documents",
                json={
                    "document_id": command.document_id,
                    "title": command.title,
                    "format": "markdown",
                    "content": command.content,
                },
            )
            assert accepted.status_code == 202
        waiting = 0
        for shard in topology.indexer_shard_queues():
            waiting += await queue_depth(fault_env["RABBITMQ_URL"], shard.name)
        report(
            f"indexer-away: search answered {response.status_code} in {elapsed:.2f} s; "
            f"{waiting} ingest commands waiting in the {topology.INDEXER_COMMANDS_QUEUE}.* shards"
        )
        assert waiting == len(commands)

        async with recording(fault_env["RABBITMQ_URL"], "document.*") as recorder:
            indexer = services.start("indexer", fault_env)
            await asyncio.to_thread(indexer.wait_for_log, "indexer.ready", timeout=120)
            await recorder.wait_for(
                lambda r: len(r.of_type("document.indexed")) >= len(commands), 300, "indexed"
            )
        indexed = Counter(e["document_id"] for e in recorder.of_type("document.indexed"))
        assert set(indexed) == {c.document_id for c in commands}
        found = await client.post("/v1/search", json={"query": commands[0].title, "top_k": 3})
        assert found.status_code == 200
        assert found.json()["hits"]
