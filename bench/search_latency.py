"""Benchmarks 2 and 3: ``POST /v1/search`` latency next to the in-process limit.

Through Lectern: an asyncio ``httpx`` client (one connection per caller) sends hybrid
top-5 searches of SciFact's test queries (cycled) at concurrency 1, 8 and 32, closed
loop, latencies in HDR histograms (:mod:`bench.latency`). Then (benchmark 3) the same
at concurrency 8 while a large ingest runs through the same stack.

The in-process limit, on the same Qdrant folder once the stack has stopped: the
indexer's own :class:`IndexerService.retrieve` (its embedder's query worker, then its
Qdrant Edge store's dense and BM25 lists fused as the indexer fuses them), with the
indexer's default search settings, at concurrency 1 and 32.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import httpx
from tests.e2e.conftest import Stack

from bench.corpora import Corpus, scifact_corpus
from bench.eval_sets import load_set, model_path
from bench.ingest_throughput import IngestRun, through_api
from bench.latency import LoadResult, closed_loop
from bench.profiling import PySpy, shares_line, stage_shares
from bench.report import Row, Target, figure
from bench.stack import bench_stack
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.embedding import FastembedEmbedder
from lectern_indexer.service import IndexerService, SearchSettings
from lectern_indexer.settings import IndexerSettings
from lectern_indexer.stores.edge import QdrantEdgeStore

LEVELS = (1, 8, 32)
IN_PROCESS_LEVELS = (1, 32)
WARMUP = 20
TOP_K = 5


def queries() -> list[str]:
    """SciFact's test queries (300 claims), the search load's texts."""
    return list(load_set("scifact").queries.values())


async def gateway_load(
    base_url: str,
    texts: list[str],
    concurrency: int,
    requests: int,
    stop: asyncio.Event | None = None,
    rpc_ms: list[float] | None = None,
) -> LoadResult:
    """Hybrid top-5 searches through the gateway from ``concurrency`` callers.

    ``rpc_ms``, when given, receives each answer's ``latency_ms`` (the gateway's RPC
    round trip to the indexer, without the event publish and the HTTP layers).
    """
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def call(n: int) -> None:
            body = {"query": texts[n % len(texts)], "top_k": TOP_K, "mode": "hybrid"}
            answer = await client.post("/v1/search", json=body)
            answer.raise_for_status()
            if rpc_ms is not None and n >= 0:
                rpc_ms.append(float(answer.json()["latency_ms"]))

        return await closed_loop(
            call, concurrency=concurrency, requests=requests, warmup=WARMUP, stop=stop
        )


async def gateway_levels(stack: Stack, texts: list[str], requests: int) -> dict[int, LoadResult]:
    """Idle-stack load at every level of :data:`LEVELS`."""
    return {c: await gateway_load(stack.base_url, texts, c, requests) for c in LEVELS}


async def while_ingesting(
    stack: Stack, texts: list[str], corpus: Corpus, requests: int
) -> tuple[LoadResult, IngestRun]:
    """Load at concurrency 8 from the start of an ingest of ``corpus`` until it ends."""
    done = asyncio.Event()

    async def ingest() -> IngestRun:
        try:
            return await through_api(stack, corpus, profile_dir=None)
        finally:
            done.set()

    task = asyncio.create_task(ingest())
    load = await gateway_load(stack.base_url, texts, 8, requests, stop=done)
    return load, await task


async def in_process(qdrant_path: Path, texts: list[str], requests: int) -> dict[int, LoadResult]:
    """``IndexerService.retrieve`` (hybrid, top 5) straight on the store, per level."""
    defaults = IndexerSettings.model_fields
    dense_path = model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx")
    embedder = FastembedEmbedder(dense_path, model_path("SPARSE_MODEL_PATH", "bm25"))
    store = QdrantEdgeStore(qdrant_path)
    await embedder.load()
    await store.open()
    service = IndexerService(
        store,
        embedder,
        Chunker(WordPieceCounter.from_model_path(dense_path)),
        max_document_bytes=defaults["max_document_bytes"].default,
        search=SearchSettings(
            prefetch_limit=defaults["prefetch_limit"].default,
            timeout=defaults["search_timeout"].default,
        ),
    )

    async def call(n: int) -> None:
        await service.retrieve(texts[n % len(texts)], "hybrid", TOP_K)

    try:
        return {
            c: await closed_loop(call, concurrency=c, requests=requests, warmup=WARMUP)
            for c in IN_PROCESS_LEVELS
        }
    finally:
        await store.close()
        await embedder.close()


def _rate(run: IngestRun) -> float | None:
    return run.chunks / run.seconds if run.seconds > 0 else None


def _note(result: LoadResult) -> str:
    return (
        f"p95 {figure(result.p95_ms)} ms, max {figure(result.max_ms)} ms, "
        f"{result.requests} ok, {result.errors} errors"
    )


def rows(
    gateway: dict[int, LoadResult],
    local: dict[int, LoadResult],
    during: tuple[LoadResult, IngestRun, IngestRun] | None,
    points: int,
) -> list[Row]:
    """Report rows of benchmarks 2 and 3.

    Args:
        gateway: load through the gateway by concurrency.
        local: in-process load by concurrency.
        during: the c=8 load during the re-ingest, the re-ingest, and the first ingest
            of the same corpus (no search load), or ``None``.
        points: chunks in the collection.
    """
    section, label = "2 search", "in-process retrieve"
    size = f"{points:,} chunks" + ("" if points >= 10_000 else " (< 10,000: quick run)")
    found = [Row(section, "collection size", points, "chunks", note=size)]
    for c, result in gateway.items():
        limit = local.get(c)
        found.append(
            Row(
                section,
                f"c={c}: p50",
                result.p50_ms,
                "ms",
                limit.p50_ms if limit else None,
                label if limit else "",
                Target("max_over_limit", 5) if c == 1 else None,
                _note(result),
            )
        )
        found.append(
            Row(
                section,
                f"c={c}: p99",
                result.p99_ms,
                "ms",
                limit.p99_ms if limit else None,
                label if limit else "",
                Target("max", 100) if c == 32 else None,
            )
        )
        best = local.get(c) or (local.get(32) if c == 32 else None)
        found.append(
            Row(
                section,
                f"c={c}: throughput",
                result.throughput,
                "req/s",
                best.throughput if best else None,
                label if best else "",
                Target("ratio_min", 0.8) if c == 32 else None,
            )
        )
    if during is not None:
        load, reingest, first = during
        idle = gateway.get(8)
        section = "3 search + ingest"
        found.append(
            Row(
                section,
                "c=8 p99 during a large ingest",
                load.p99_ms,
                "ms",
                idle.p99_ms if idle else None,
                "idle c=8, same run",
                note=_note(load),
            )
        )
        found.append(
            Row(
                section,
                f"{reingest.corpus.name}: chunks/s under that load",
                _rate(reingest),
                "chunks/s",
                _rate(first),
                "first ingest, no search load",
                note=f"{reingest.chunks} chunks",
            )
        )
    return found


async def standalone(
    documents: int, requests: int, profile_dir: Path | None
) -> tuple[dict[int, LoadResult], dict[int, LoadResult], int, dict[str, list[str]]]:
    """Benchmark 2 alone: ingest ``documents`` SciFact abstracts, load, in-process limit.

    Returns:
        Gateway load by level, in-process load by level, chunks in the collection and,
        with ``profile_dir``, py-spy's folded stacks per ``<service>-c<level>``.
    """
    base = Path(tempfile.mkdtemp(prefix="lectern-bench-search-"))
    texts = queries()
    profiles: dict[str, list[str]] = {}
    try:
        with bench_stack(base) as stack:
            run = await through_api(stack, scifact_corpus(limit=documents), profile_dir=None)
            gateway: dict[int, LoadResult] = {}
            for c in LEVELS:
                spies = {}
                if profile_dir is not None:
                    for name in ("gateway", "indexer"):
                        pid = stack.group[name].pid
                        assert pid is not None
                        spies[name] = PySpy(pid, profile_dir / f"search-{name}-c{c}.txt", rate=200)
                rpc: list[float] = []
                gateway[c] = await gateway_load(stack.base_url, texts, c, requests, rpc_ms=rpc)
                for name, spy in spies.items():
                    profiles[f"{name}-c{c}"] = spy.stop()
                print(f"c={c}: RPC part of the answers, p50 {statistics.median(rpc):.2f} ms")
        local = await in_process(base / "qdrant", texts, requests)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return gateway, local, run.chunks, profiles


def _print(gateway: dict[int, LoadResult], local: dict[int, LoadResult], points: int) -> None:
    print(f"collection: {points} chunks; load average {os.getloadavg()}")
    for label, results in (("gateway", gateway), ("in-process", local)):
        for c, r in results.items():
            print(
                f"{label:>10} c={c:<2} p50 {r.p50_ms:7.2f} ms  p95 {r.p95_ms:7.2f}  "
                f"p99 {r.p99_ms:7.2f}  max {r.max_ms:7.2f}  {r.throughput:6.1f} req/s  "
                f"({r.requests} ok, {r.errors} errors)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Benchmark 2 alone (search latency).")
    parser.add_argument("--documents", type=int, default=300, help="SciFact abstracts to ingest")
    parser.add_argument("--requests", type=int, default=600, help="requests per level")
    parser.add_argument("--profile", type=Path, help="folder for py-spy folded stacks")
    args = parser.parse_args()
    found = asyncio.run(standalone(args.documents, args.requests, args.profile))
    _print(found[0], found[1], found[2])
    for key, folded in found[3].items():
        print(f"{key}: {shares_line(stage_shares(folded))}")
