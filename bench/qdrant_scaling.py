"""Benchmark 4: how Qdrant Edge's cost grows with the collection, on Lectern's own store.

For each size (default 10k, 100k, 1M points), in a fresh process (so its memory is its
own): random unit 384-d dense vectors and random BM25-like sparse vectors (24 terms of a
50,000-term vocabulary) are written straight to :class:`QdrantEdgeStore` with Lectern's
shard config (``edge_config``) in batches of 1,024; then 200 random queries per case
(dense / hybrid, without / with a 10 % payload filter on ``metadata.group``, which the
store indexes as a keyword) through ``store.search``, the indexer's search path.

Lectern's settings (``stores/edge_mapping.py``): only the vectors (dense cosine, sparse
with IDF); no ``hnsw_config``, ``optimizers`` (``indexing_threshold``) or ``on_disk``, so
Qdrant's defaults apply, and Lectern never calls ``EdgeShard.optimize()``: Qdrant Edge
builds an HNSW index only inside that call, so as Lectern runs every search is exact
(brute force over the appendable segment). Each size is therefore measured twice: as
written, and after ``optimize()`` (an HNSW graph, ``vector_index-dense/graph.bin``, in
each segment that passed the indexing threshold), with the time the optimisation took
and the number of segments with a graph before and after.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.latency import new_histogram
from bench.report import Row
from lectern.contracts import MetadataFilter, SearchMode
from lectern_indexer.embedding import DENSE_DIMENSIONS, SparseVector
from lectern_indexer.stores.base import ChunkPoint, VectorQuery, chunk_point_id
from lectern_indexer.stores.edge import QdrantEdgeStore

SECTION = "4 Qdrant scaling"
BATCH = 1024
VOCABULARY = 50_000
TERMS = 24
GROUPS = 10
QUERIES = 200
CASES: tuple[tuple[SearchMode, bool], ...] = (
    ("dense", False),
    ("dense", True),
    ("hybrid", False),
    ("hybrid", True),
)


def rss_mib() -> float:
    """This process's resident memory (``VmRSS``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _sparse(rng: np.random.Generator) -> SparseVector:
    indices = np.sort(rng.choice(VOCABULARY, TERMS, replace=False))
    return SparseVector(indices.tolist(), rng.uniform(0.5, 3.0, TERMS).round(3).tolist())


def _dense(rng: np.random.Generator, count: int) -> NDArray[np.float32]:
    vectors = rng.standard_normal((count, DENSE_DIMENSIONS), dtype=np.float32)
    unit: NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


async def _write(store: QdrantEdgeStore, size: int, rng: np.random.Generator) -> None:
    for start in range(0, size, BATCH):
        count = min(BATCH, size - start)
        dense = _dense(rng, count).tolist()
        points = [
            ChunkPoint(
                id=chunk_point_id(f"doc-{(start + i) // 10}", "v1", (start + i) % 10),
                dense=dense[i],
                sparse=_sparse(rng),
                payload={
                    "document_id": f"doc-{(start + i) // 10}",
                    "chunk_index": (start + i) % 10,
                    "metadata": {"group": f"g{(start + i) % GROUPS}"},
                },
            )
            for i in range(count)
        ]
        await store.upsert(points)


async def _latencies(store: QdrantEdgeStore, rng: np.random.Generator) -> dict[str, float]:
    found: dict[str, float] = {}
    group = MetadataFilter(metadata={"group": "g3"})
    for mode, filtered in CASES:
        histogram = new_histogram()
        for vector in _dense(rng, QUERIES).tolist():
            query = VectorQuery(
                mode=mode,
                dense=vector,
                sparse=_sparse(rng),
                limit=5,
                filter=group if filtered else None,
            )
            started = time.perf_counter()
            await store.search(query)
            histogram.record_value(max(1, round((time.perf_counter() - started) * 1e6)))
        name = f"{mode}{' + filter' if filtered else ''}"
        found[f"{name} p50"] = histogram.get_value_at_percentile(50) / 1000
        found[f"{name} p99"] = histogram.get_value_at_percentile(99) / 1000
    return found


async def _measure(size: int, path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(size)
    before = rss_mib()
    store = QdrantEdgeStore(path, timeout=3600)
    await store.open()
    started = time.perf_counter()
    await _write(store, size, rng)
    result: dict[str, Any] = {"size": size, "write_s": time.perf_counter() - started}
    shard = store._require()  # the engine itself: info() and optimize() are not in the port
    result["hnsw_before"] = await asyncio.to_thread(hnsw_segments, path)
    result["exact"] = await _latencies(store, rng)
    result["rss_mib"] = rss_mib() - before
    started = time.perf_counter()
    await asyncio.to_thread(shard.optimize)
    result["optimize_s"] = time.perf_counter() - started
    result["hnsw_after"] = await asyncio.to_thread(hnsw_segments, path)
    result["segments"] = shard.info().segments_count
    result["optimized"] = await _latencies(store, rng)
    result["rss_after_mib"] = rss_mib() - before
    await store.close()
    result["disk_mib"] = await asyncio.to_thread(_disk_mib, path)
    return result


def hnsw_segments(path: Path) -> int:
    """Segments of the shard at ``path`` whose dense vectors have an HNSW graph."""
    return len(list(path.glob("segments/*/vector_index-dense/graph.bin")))


def _disk_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def measure_size(size: int, path: str) -> dict[str, Any]:
    """Entry point of one size's process: write, query, optimise, query (see module doc)."""
    try:
        return asyncio.run(_measure(size, Path(path)))
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(sizes: list[int], base: Path) -> list[Row]:
    """Measure every size in its own process; return the report rows."""
    found: list[Row] = []
    context = get_context("spawn")
    for size in sizes:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            result = pool.submit(measure_size, size, str(base / f"scale-{size}")).result()
        found.extend(_rows(result))
    return found


def _rows(result: dict[str, Any]) -> list[Row]:
    size = f"{result['size']:,}"
    after = "after optimize(): " + (
        "HNSW" if result["hnsw_after"] else "still exact (below the indexing threshold)"
    )
    rows = [
        Row(
            SECTION,
            f"{size} points: {case} (exact, as Lectern runs)",
            value,
            "ms",
            result["optimized"][case],
            after,
        )
        for case, value in result["exact"].items()
        if case.endswith("p50") or "hybrid + filter" in case
    ]
    rows.append(
        Row(
            SECTION,
            f"{size} points: RSS",
            result["rss_mib"],
            "MiB",
            result["rss_after_mib"],
            "after optimize()",
            note=(
                f"write {result['write_s']:.0f} s; optimize() {result['optimize_s']:.0f} s; "
                f"segments with an HNSW graph {result['hnsw_before']} -> {result['hnsw_after']} "
                f"(of {result['segments']}); disk {result['disk_mib']:.0f} MiB"
            ),
        )
    )
    return rows
