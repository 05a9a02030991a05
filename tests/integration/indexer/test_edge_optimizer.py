"""The Edge optimiser on a real Qdrant Edge shard: graphs get built, answers stay right.

The shard's indexing threshold is lowered to 300 KB (200 dense vectors) so a graph is
built from a few thousand points in a second or two; everything else is Lectern's config.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from lectern_indexer.embedding import DENSE_DIMENSIONS, SparseVector
from lectern_indexer.errors import StoreUnavailableError
from lectern_indexer.stores.base import ChunkPoint, VectorQuery, chunk_point_id
from lectern_indexer.stores.edge import QdrantEdgeStore
from lectern_indexer.stores.edge_mapping import edge_config
from lectern_indexer.stores.edge_optimizer import OPTIMIZE_RUNS, EdgeOptimizer, OptimizePolicy

pytestmark = pytest.mark.integration

THRESHOLD_KB = 300
THRESHOLD_POINTS = THRESHOLD_KB * 1024 // (DENSE_DIMENSIONS * 4)
POINTS = 3000
TENANTS = ("alpha", "beta", "gamma")


def unit_vectors(rng: np.random.Generator, count: int) -> NDArray[np.float32]:
    vectors = rng.standard_normal((count, DENSE_DIMENSIONS), dtype=np.float32)
    unit: NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def chunks(vectors: NDArray[np.float32], start: int = 0) -> list[ChunkPoint]:
    return [
        ChunkPoint(
            id=chunk_point_id(f"doc-{start + i}", "v1", 0, TENANTS[(start + i) % 3]),
            dense=vector.tolist(),
            sparse=SparseVector([1 + (start + i) % 97], [1.0]),
            payload={
                "collection": TENANTS[(start + i) % 3],
                "document_id": f"doc-{start + i}",
                "chunk_index": 0,
            },
        )
        for i, vector in enumerate(vectors)
    ]


def graphs(path: Path) -> int:
    """Segments whose dense vectors have an HNSW graph file."""
    return len(list(path.glob("segments/*/vector_index-dense/graph.bin")))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[QdrantEdgeStore]:
    opened = QdrantEdgeStore(tmp_path / "shard", config=edge_config(THRESHOLD_KB))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def vectors() -> NDArray[np.float32]:
    return unit_vectors(np.random.default_rng(7), POINTS)


async def write(store: QdrantEdgeStore, vectors: NDArray[np.float32], start: int = 0) -> None:
    for offset in range(0, len(vectors), 500):
        await store.upsert(chunks(vectors[offset : offset + 500], start + offset))


def policy() -> OptimizePolicy:
    return OptimizePolicy(min_pending=THRESHOLD_POINTS, max_pending=10**9, idle_s=0)


async def recall(
    store: QdrantEdgeStore,
    vectors: NDArray[np.float32],
    queries: NDArray[np.float32],
    tenant: str | None,
) -> float:
    """Mean recall@10 of ``store.search`` against exact cosine ranking by numpy."""
    ids = np.array([p.id for p in chunks(vectors)])
    keep = (
        np.arange(len(vectors))
        if tenant is None
        else np.arange(TENANTS.index(tenant), len(vectors), 3)
    )
    found = 0
    for query in queries:
        truth = set(ids[keep[np.argsort(-(vectors[keep] @ query))[:10]]])
        hits = await store.search(
            VectorQuery(
                mode="dense",
                dense=query.tolist(),
                sparse=None,
                limit=10,
                collections=None if tenant is None else (tenant,),
            )
        )
        found += len(truth & {hit.id for hit in hits})
    return found / (10 * len(queries))


async def test_the_optimizer_builds_a_graph_once_enough_points_wait(
    store: QdrantEdgeStore, vectors: NDArray[np.float32]
) -> None:
    optimizer = EdgeOptimizer(store, policy())
    await write(store, vectors[: THRESHOLD_POINTS - 1])
    assert await optimizer.check() is None  # one short of a segment's worth: not yet

    await write(store, vectors[THRESHOLD_POINTS - 1 :], THRESHOLD_POINTS - 1)
    assert await store.index_state() == (POINTS, POINTS)
    assert graphs(store.path) == 0
    run = await optimizer.check()

    assert run is not None
    assert run.reason == "idle"
    assert run.changed
    assert (run.pending_before, run.pending_after) == (POINTS, 0)
    assert graphs(store.path) >= 1
    info = await store._read(lambda: store._require().info())
    assert info.indexed_vectors_count == 2 * POINTS  # dense in graphs + sparse
    assert await optimizer.check() is None  # nothing left to do


async def test_an_idle_store_is_optimized_and_a_busy_one_waits(
    store: QdrantEdgeStore, vectors: NDArray[np.float32]
) -> None:
    optimizer = EdgeOptimizer(
        store, OptimizePolicy(min_pending=THRESHOLD_POINTS, max_pending=10**9, idle_s=60)
    )
    await write(store, vectors)
    assert await optimizer.check() is None  # written just now: busy

    store.last_call -= 60  # nothing has touched the store for a minute
    run = await optimizer.check()
    assert run is not None
    assert run.reason == "idle"


async def test_searches_through_the_graph_match_exact_search(
    store: QdrantEdgeStore, vectors: NDArray[np.float32]
) -> None:
    await write(store, vectors)
    queries = unit_vectors(np.random.default_rng(11), 40)
    exact = await recall(store, vectors, queries, None)
    await EdgeOptimizer(store, policy()).run()
    assert graphs(store.path) >= 1

    assert exact == 1.0  # a plain segment is scanned exactly
    assert await recall(store, vectors, queries, None) >= 0.95
    for tenant in TENANTS:  # the tenant filter (is_tenant index, payload_m) on the graph
        assert await recall(store, vectors, queries, tenant) >= 0.95


async def test_writes_issued_during_an_optimization_all_land(
    store: QdrantEdgeStore, vectors: NDArray[np.float32]
) -> None:
    await write(store, vectors[:2000])
    optimizer = EdgeOptimizer(store, policy())
    running = asyncio.create_task(optimizer.run())
    await asyncio.sleep(0)  # the optimisation is submitted to the write thread first
    later = asyncio.create_task(write(store, vectors[2000:], 2000))
    deleted = [p.id for p in chunks(vectors[:100])]
    await asyncio.gather(running, later, store.delete_points(deleted))

    assert await store.count("alpha") + await store.count("beta") + await store.count(
        "gamma"
    ) == POINTS - len(deleted)
    newest = chunks(vectors[-1:], POINTS - 1)[0]
    hits = await store.search(VectorQuery(mode="dense", dense=newest.dense, sparse=None, limit=1))
    assert [hit.id for hit in hits] == [newest.id]


async def test_runs_never_overlap(store: QdrantEdgeStore, vectors: NDArray[np.float32]) -> None:
    await write(store, vectors)
    optimizer = EdgeOptimizer(store, policy())
    first, second = await asyncio.gather(optimizer.run(), optimizer.run())

    assert first.changed
    assert not second.changed  # the second waited, then found it done
    assert second.pending_before == 0


async def test_a_failing_optimization_is_counted_logged_and_retried_later(
    tmp_path: Path,
) -> None:
    closed = QdrantEdgeStore(tmp_path / "never-opened")
    optimizer = EdgeOptimizer(closed, OptimizePolicy(interval_s=0.01, max_backoff_s=0.05))
    before = OPTIMIZE_RUNS.labels("requested", "error")._value.get()
    with pytest.raises(StoreUnavailableError):
        await optimizer.run()
    assert OPTIMIZE_RUNS.labels("requested", "error")._value.get() == before + 1

    optimizer.start()
    for _ in range(2):  # the loop keeps trying, backing off
        optimizer.checked.clear()
        await optimizer.checked.wait()
    assert optimizer.failures == 2
    await optimizer.stop()
    assert isinstance(optimizer.last_error, StoreUnavailableError)
