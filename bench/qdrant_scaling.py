"""Benchmark 4: how Qdrant Edge's cost grows with the collection, on Lectern's own store.

For each size (default 10k, 100k, 1M points), in a fresh process (so its memory is its
own): random unit 384-d dense vectors and random BM25-like sparse vectors (24 terms of a
50,000-term vocabulary) are written straight to :class:`QdrantEdgeStore` with Lectern's
shard config (``edge_config``) in batches of 1,024, with Lectern's
:class:`~lectern_indexer.stores.edge_optimizer.EdgeOptimizer` running as in the indexer
(it builds HNSW graphs when a backlog piles up during the writes, and when idle after
them). Then 200 random queries per case (dense / hybrid, without / with a 10 % payload
filter on ``metadata.group``, which the store indexes as a keyword) through
``store.search``, the indexer's search path, twice: with ``QDRANT_OPTIMIZE=true`` (graphs
where the optimiser built them; the planner may still scan a segment exactly, see below) and
forced exact (``SearchParams(exact=True)``: what every search was before the optimiser,
when no graph was ever built, and Lectern's default since ``QDRANT_OPTIMIZE`` is off). Above
:data:`OPTIMIZE_UP_TO` points only the exact searches are measured.

Where HNSW and exact search switch (per segment, Qdrant's planner): a segment below the
indexing threshold (10,000 KB = ~6,666 dense vectors) has no graph and is scanned; a
segment with a graph is walked by HNSW unless the query's filter matches fewer than
``full_scan_threshold`` (10,000 KB = ~6,666 vectors) of its points, in which case those
points are scored exactly through the payload index.
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
import qdrant_edge as qe
from numpy.typing import NDArray

from bench.latency import new_histogram
from bench.report import Row
from lectern.contracts import MetadataFilter, SearchMode
from lectern_indexer.embedding import DENSE_DIMENSIONS, SparseVector
from lectern_indexer.stores.base import ChunkPoint, ScoredPoint, VectorQuery, chunk_point_id
from lectern_indexer.stores.edge import QdrantEdgeStore
from lectern_indexer.stores.edge_mapping import nearest_request
from lectern_indexer.stores.edge_optimizer import EdgeOptimizer, OptimizeRun

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


class BenchStore(QdrantEdgeStore):
    """Lectern's Edge store whose searches can be forced exact (``exact = True``)."""

    exact = False

    def _nearest(self, query: VectorQuery, mode: SearchMode, limit: int) -> list[ScoredPoint]:
        if not self.exact:
            return super()._nearest(query, mode, limit)
        lectern = nearest_request(query, mode, limit, with_payload=False)
        request = qe.QueryRequest(
            limit=lectern.limit,
            query=lectern.query,
            filter=lectern.filter,
            with_payload=False,
            params=qe.SearchParams(exact=True),
        )
        points = self._require().query(request)
        return [ScoredPoint(str(p.id), float(p.score), {}) for p in points]


class RecordingOptimizer(EdgeOptimizer):
    """Lectern's optimiser, keeping every run (for the report)."""

    def __init__(self, store: QdrantEdgeStore) -> None:
        super().__init__(store)
        self.runs: list[OptimizeRun] = []

    async def run(self, reason: str = "requested", pending: int | None = None) -> OptimizeRun:
        """Run as the indexer does, and keep the run."""
        done = await super().run(reason, pending)
        self.runs.append(done)
        return done


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


async def _measure(size: int, path: Path, optimize: bool) -> dict[str, Any]:
    rng = np.random.default_rng(size)
    before = rss_mib()
    store = BenchStore(path, timeout=3600)
    await store.open()
    optimizer = RecordingOptimizer(store)
    if optimize:
        optimizer.start()
    started = time.perf_counter()
    await _write(store, size, rng)
    result: dict[str, Any] = {"size": size, "write_s": time.perf_counter() - started}
    result["settle_s"] = 0.0
    if optimize:
        await optimizer.stop()  # then what the loop would do once the writes stop: idle run
        await asyncio.sleep(optimizer.policy.idle_s)
        started = time.perf_counter()
        await optimizer.check()
        result["settle_s"] = time.perf_counter() - started
    runs = optimizer.runs
    result["runs"] = len(runs)
    result["optimize_s"] = sum(r.seconds for r in runs)
    result["longest_pause_s"] = max((r.seconds for r in runs), default=0.0)
    result["unindexed"] = (await store.index_state())[1]
    result["hnsw"] = await asyncio.to_thread(hnsw_segments, path)
    result["segments"] = store._require().info().segments_count
    if optimize:
        result["lectern"] = await _latencies(store, rng)
    result["rss_mib"] = rss_mib() - before
    store.exact = True
    result["exact"] = await _latencies(store, rng)
    await store.close()
    result["disk_mib"] = await asyncio.to_thread(_disk_mib, path)
    return result


def hnsw_segments(path: Path) -> int:
    """Segments of the shard at ``path`` whose dense vectors have an HNSW graph."""
    return len(list(path.glob("segments/*/vector_index-dense/graph.bin")))


def _disk_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def measure_size(size: int, path: str, optimize: bool = True) -> dict[str, Any]:
    """Entry point of one size's process: write, query, optimise, query (see module doc).

    Without ``optimize`` only the exact searches (Lectern's default) are measured.
    """
    try:
        return asyncio.run(_measure(size, Path(path), optimize))
    finally:
        shutil.rmtree(path, ignore_errors=True)


OPTIMIZE_UP_TO = 100_000
"""Largest size also measured with the optimiser: at 1M points its GIL-holding builds
would take well over an hour on 2 cores (108-191 s per run at 100k)."""


def run(sizes: list[int], base: Path) -> list[Row]:
    """Measure every size in its own process; return the report rows."""
    found: list[Row] = []
    context = get_context("spawn")
    for size in sizes:
        optimize = size <= OPTIMIZE_UP_TO
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            job = pool.submit(measure_size, size, str(base / f"scale-{size}"), optimize)
            result = job.result()
        found.extend(_rows(result))
    return found


def _rows(result: dict[str, Any]) -> list[Row]:
    size = f"{result['size']:,}"
    if "lectern" not in result:  # exact only: Lectern's default, no optimiser run
        rows = [
            Row(SECTION, f"{size} points: {case} (exact, QDRANT_OPTIMIZE=false)", value, "ms")
            for case, value in result["exact"].items()
        ]
    else:
        rows = [
            Row(
                SECTION,
                f"{size} points: {case} (QDRANT_OPTIMIZE=true: HNSW where built)",
                value,
                "ms",
                result["exact"][case],
                "exact (QDRANT_OPTIMIZE=false, the default)",
            )
            for case, value in result["lectern"].items()
        ]
    rows.append(
        Row(
            SECTION,
            f"{size} points: RSS after writing{' and optimising' if 'lectern' in result else ''}",
            result["rss_mib"],
            "MiB",
            note=(
                f"write {result['write_s']:.0f} s including {result['runs']} optimize() runs "
                f"({result['optimize_s']:.0f} s, longest pause {result['longest_pause_s']:.1f} s;"
                f" settling after the writes {result['settle_s']:.0f} s); segments "
                f"{result['segments']}, {result['hnsw']} with an HNSW graph; dense vectors "
                f"outside a graph {result['unindexed']:,}; disk {result['disk_mib']:.0f} MiB"
            ),
        )
    )
    return rows
