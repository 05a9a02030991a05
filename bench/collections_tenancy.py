"""Tenancy in Qdrant Edge: one shard with a tenant-indexed ``collection`` key vs one shard each.

Writes ``POINTS`` random 384-d chunks split 90/10 over two collections through the real
``QdrantEdgeStore`` (tenant index on ``collection``), and the same points into one
shard per collection; then times ``QUERIES`` dense searches (top 10) of each collection,
filtered in the shared shard and unfiltered in its own. Prints p50/p95 in milliseconds
and whether both layouts return the same ids. Seeded; small enough for a laptop
(``python bench/collections_tenancy.py``).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lectern_indexer.embedding import DENSE_DIMENSIONS, SparseVector
from lectern_indexer.stores.base import ChunkPoint, VectorQuery, chunk_point_id
from lectern_indexer.stores.edge import QdrantEdgeStore

POINTS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
QUERIES = 200
SHARES = {"big": 0.9, "small": 0.1}


def _vector(rng: random.Random) -> list[float]:
    return [rng.gauss(0.0, 1.0) for _ in range(DENSE_DIMENSIONS)]


def _points(rng: random.Random) -> list[ChunkPoint]:
    points = []
    for i in range(POINTS):
        collection = "big" if rng.random() < SHARES["big"] else "small"
        payload = {
            "collection": collection,
            "document_id": f"d{i}",
            "version": "v",
            "chunk_index": 0,
            "chunk_count": 1,
            "text": "",
        }
        points.append(
            ChunkPoint(
                chunk_point_id(f"d{i}", "v", 0, collection),
                _vector(rng),
                SparseVector([i % 1000], [1.0]),
                payload,
            )
        )
    return points


async def _time(
    store: QdrantEdgeStore, queries: list[list[float]], collections: tuple[str, ...] | None
) -> tuple[list[float], list[list[str]]]:
    took, ids = [], []
    for dense in queries:
        started = time.perf_counter()
        hits = await store.search(
            VectorQuery(mode="dense", dense=dense, sparse=None, limit=10, collections=collections)
        )
        took.append((time.perf_counter() - started) * 1000)
        ids.append([h.id for h in hits])
    return took, ids


def _summary(took: list[float]) -> str:
    ordered = sorted(took)
    return (
        f"p50 {statistics.median(ordered):6.2f} ms  p95 {ordered[int(0.95 * len(ordered))]:6.2f} ms"
    )


async def main() -> None:
    rng = random.Random(20261201)
    points = _points(rng)
    queries = [_vector(rng) for _ in range(QUERIES)]
    with tempfile.TemporaryDirectory() as folder:
        shared = QdrantEdgeStore(Path(folder) / "shared")
        own = {name: QdrantEdgeStore(Path(folder) / name) for name in SHARES}
        for store in (shared, *own.values()):
            await store.open()
        for start in range(0, len(points), 512):
            batch = points[start : start + 512]
            await shared.upsert(batch)
            for name, store in own.items():
                await store.upsert([p for p in batch if p.payload["collection"] == name])
        print(f"{POINTS} points, {QUERIES} dense queries (top 10) per collection")
        for name in SHARES:
            count = await shared.count(name)
            filtered, a = await _time(shared, queries, (name,))
            alone, b = await _time(own[name], queries, None)
            same = sum(x == y for x, y in zip(a, b, strict=True))
            print(
                f"{name:>5} ({count} points)  shared+tenant filter: {_summary(filtered)}"
                f"   own shard: {_summary(alone)}   same top-10: {same}/{QUERIES}"
            )
        for store in (shared, *own.values()):
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
