"""``make bench``: start a private stack, run every benchmark, write one report.

Usage::

    uv run python -m bench [--quick] [--profile] [--out bench/results/latest.md]

Order (each step's failure becomes a "not run" row, the rest goes on):

1-3. one stack (``bench.stack``): ingest gazebo-docs, python311-html and the SciFact
     abstracts through the API; search load at c=1, 8, 32; search at c=8 while
     python311-html is re-ingested; the stack stops; then the raw embedding limit of
     each corpus and the in-process search limit on the stack's Qdrant folder;
4.   Qdrant Edge scaling; 5. the event log; 6. RPC and answer streaming;
7.   SciFact nDCG@10; 8. the random-key flood.

``--quick`` uses :data:`bench.plan.QUICK` (tiny sizes, a smoke run) and writes
``bench/results/quick.md``; ``--only 1-3 5`` runs only those steps; ``--profile``
samples the indexer with py-spy during each ingest (folded stacks in
``bench/results/profiles/``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from tests.conftest import BASE_DATABASE_URL

from bench import (
    answer_slot,
    auth_flood,
    event_log,
    ingest_throughput,
    qdrant_scaling,
    retrieval_quality,
    rpc_throughput,
    search_latency,
)
from bench.corpora import folder_corpus, scifact_corpus
from bench.machine import describe
from bench.plan import FULL, QUICK, Sizes, reingested
from bench.report import Report, Row, not_run, render
from bench.stack import bench_stack

RESULTS = Path(__file__).resolve().parent / "results"
T = TypeVar("T")


async def guarded(section: str, step: Callable[[], Awaitable[T]]) -> T | Row:
    """Await ``step``; on failure print the traceback and return a "not run" row."""
    started = time.perf_counter()
    print(f"[bench] {section} ...", file=sys.stderr, flush=True)
    try:
        result = await step()
    except Exception as exc:  # one benchmark failing must not lose the others
        traceback.print_exc()
        return not_run(section, "(benchmark)", f"failed: {exc!r}"[:300])
    print(f"[bench] {section} done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return result


def _rows(result: list[Row] | Row) -> list[Row]:
    return [result] if isinstance(result, Row) else result


async def stack_benchmarks(sizes: Sizes, base: Path, profile_dir: Path | None) -> list[Row]:
    """Benchmarks 1-3 on one stack, then their limits with the stack stopped."""
    corpora = [
        folder_corpus("gazebo-docs", "gazebo", sizes.gazebo_files),
        folder_corpus("python311-html", "python", sizes.python_files),
        scifact_corpus("scifact", sizes.scifact_documents),
    ]
    texts = search_latency.queries()
    failed: list[Row] = []
    runs: list[ingest_throughput.IngestRun] = []
    with bench_stack(base) as stack:
        for corpus in corpora:
            ingest = functools.partial(
                ingest_throughput.through_api, stack, corpus, profile_dir=profile_dir
            )
            run = await guarded(f"1 ingest {corpus.name}", ingest)
            if isinstance(run, Row):
                failed.append(run)
            else:
                runs.append(run)
        gateway = await search_latency.gateway_levels(stack, texts, sizes.search_requests)
        load, reingest = await search_latency.while_ingesting(
            stack, texts, reingested(corpora[1]), sizes.search_requests * 100
        )
    first = next((run for run in runs if run.corpus.name == corpora[1].name), None)
    rows = await ingest_throughput.rows(runs)
    local = await search_latency.in_process(base / "qdrant", texts, sizes.search_requests)
    points = sum(run.chunks for run in runs)
    during = (load, reingest, first) if first is not None else None
    return failed + rows + search_latency.rows(gateway, local, during, points)


def notes(quick: bool, sizes: Sizes) -> list[str]:
    """The fixed notes of the report (how things were measured, what is next)."""
    found = [
        "Quick run (`--quick`): tiny sizes, a smoke test of the harness; no figure here is "
        "a measurement to quote."
        if quick
        else "Full run (`make bench`).",
        "HTTP load: an asyncio httpx client, closed loop, one connection per caller, "
        "latencies in HDR histograms (hdrhistogram 0.10, 1 us - 60 s, 3 digits).",
        "Services run with LOG_LEVEL=WARNING and no rate limit (bench/stack.py); the raw "
        "embedding limit uses the indexer's FastembedEmbedder with its default batch size "
        "(16) and thread count (ONNX Runtime's default: every core), stack stopped.",
        "Ingest: the documents in flight (MAX_CONCURRENT_DOCUMENTS, 16) share embedding "
        "calls of EMBED_BATCH_SIZE texts and Qdrant Edge flushes (group commit); each is "
        "acknowledged and announced after the flush that holds its write.",
        "Qdrant: Lectern's Edge shard states HNSW m 16, ef_construct 100, payload_m 16, "
        "full_scan_threshold and indexing_threshold 10,000 KB (~6,666 dense vectors), "
        "max_segment_size 100,000 KB; vectors and graphs cached in RAM, payload on disk "
        "(stores/edge_mapping.py). Its EdgeOptimizer (stores/edge_optimizer.py) calls "
        "EdgeShard.optimize() on a backlog or when idle, but only with QDRANT_OPTIMIZE=true "
        "(off by default): optimize() holds the GIL, so each run pauses the indexer. The "
        "stack of sections 1-3 runs the default, exact search; section 4 measures both.",
        "Searches: the indexer embeds queries on a single-threaded ONNX session of their "
        "own (QUERY_WORKERS 2); FastStream logs through lectern.faststream at LOG_LEVEL.",
        f"Sizes: {sizes}.",
        f"Load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}.",
    ]
    return found


def write(out: Path, text: str) -> None:
    """Write the report, creating its folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


async def main(
    quick: bool, profile: bool, out: Path, only: list[str], scale_points: list[int] | None = None
) -> None:
    """Run every step (those whose section starts with one of ``only``) and write ``out``.

    ``scale_points`` replaces the plan's sizes of step 4 (e.g. ``[10_000, 100_000]``).
    """
    sizes = QUICK if quick else FULL
    if scale_points:
        sizes = dataclasses.replace(sizes, scale_points=tuple(scale_points))
    base = Path(tempfile.mkdtemp(prefix="lectern-bench-"))
    admin_url = BASE_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    report = Report("Lectern benchmarks" + (" (quick)" if quick else ""), describe(admin_url))
    profile_dir = RESULTS / "profiles" if profile else None
    try:
        steps: list[tuple[str, Callable[[], Awaitable[list[Row]]]]] = [
            ("1-3 ingest and search", lambda: stack_benchmarks(sizes, base / "stack", profile_dir)),
            (
                "4 Qdrant scaling",
                lambda: asyncio.to_thread(qdrant_scaling.run, list(sizes.scale_points), base),
            ),
            ("5 event log", lambda: event_log.run(sizes.events)),
            ("6 RPC", lambda: rpc_throughput.rows(sizes.rpc_requests, sizes.rpc_concurrency)),
            ("6 answer streaming", lambda: answer_slot.run(quick)),
            ("7 retrieval (SciFact)", lambda: retrieval_quality.run(quick)),
            (
                "8 auth flood",
                lambda: asyncio.to_thread(
                    auth_flood.rows, sizes.flood_requests, sizes.flood_concurrency
                ),
            ),
        ]
        for section, step in steps:
            if only and not any(section.startswith(prefix) for prefix in only):
                continue
            report.rows += _rows(await guarded(section, step))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report.notes = notes(quick, sizes)
    text = render(report)
    await asyncio.to_thread(write, out, text)
    print(text)
    print(f"[bench] wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--profile", action="store_true", help="py-spy the indexer's ingests")
    parser.add_argument("--out", type=Path, help="report file (default: bench/results/...)")
    parser.add_argument("--only", nargs="*", default=[], help="steps to run, e.g. 1-3 5")
    parser.add_argument(
        "--scale-points", nargs="*", type=int, help="step 4's sizes, e.g. 10000 100000"
    )
    args = parser.parse_args()
    default = RESULTS / ("quick.md" if args.quick else "latest.md")
    asyncio.run(main(args.quick, args.profile, args.out or default, args.only, args.scale_points))
