"""Benchmark 1: ingest through the HTTP API next to the raw embedding limit.

Through Lectern: the bodies go to ``POST /v1/documents:batch`` (100 per request, as
the CLI sends them, with its client :class:`lectern_cli.client.LecternClient`), then the
event log is polled until each version sent has its ``document.indexed``. The figure
is chunks per second from the first ``document.accepted`` to the last
``document.indexed`` event, read from the session-logger's ``events`` table (each
event's ``occurred_at``; ``chunk_count`` from the indexed events), which is also polled
(once a second) to know when the last document is done.

The raw limit: the same chunk texts (the indexer's own validate/parse/chunk code, see
:func:`bench.corpora.chunk_texts`), dense + BM25, through the indexer's
:class:`FastembedEmbedder` with its default batch size and thread count (ONNX Runtime's
default: every core), in this one process, while the stack is stopped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from tests.e2e.conftest import Stack

from bench.corpora import Body, Corpus, chunk_texts
from bench.eval_sets import model_path
from bench.profiling import IDLE, PySpy, shares_line, stage_shares, thread_busy
from bench.report import Row, Target
from lectern_cli.client import LecternClient
from lectern_indexer.embedding import FastembedEmbedder
from lectern_indexer.settings import IndexerSettings

SECTION = "1 ingest"
BATCH_DOCUMENTS = 100
SEND_CONCURRENCY = 2
POLL_S = 1.0
TARGET = Target("ratio_min", 0.85)
"""Issue 13: Lectern >= 0.85 x the raw fastembed rate."""


@dataclass(frozen=True)
class IngestRun:
    """One corpus sent through the API.

    Attributes:
        corpus: the corpus.
        documents: documents indexed.
        chunks: chunks indexed (sum of the ``document.indexed`` events' ``chunk_count``).
        seconds: first ``document.accepted`` to last ``document.indexed``.
        profile: py-spy's folded stacks of the indexer process (``--profile``), else empty.
    """

    corpus: Corpus
    documents: int
    chunks: int
    seconds: float
    profile: list[str]


async def send(client: LecternClient, bodies: list[Body]) -> dict[str, str]:
    """Send ``bodies`` in batches; return ``{document_id: version}`` of the accepted ones.

    Raises:
        RuntimeError: the gateway refused a document.
    """
    gate = asyncio.Semaphore(SEND_CONCURRENCY)
    versions: dict[str, str] = {}

    async def one(batch: list[Body]) -> None:
        async with gate:
            answer = await client.request("POST", "/v1/documents:batch", json={"documents": batch})
        for result in answer["results"]:
            if result["status"] != 202:
                raise RuntimeError(f"{result['document_id']}: {result['detail']}")
            versions[result["document_id"]] = result["version"]

    parts = [bodies[i : i + BATCH_DOCUMENTS] for i in range(0, len(bodies), BATCH_DOCUMENTS)]
    await asyncio.gather(*(one(part) for part in parts))
    return versions


SENT = (
    " FROM events JOIN unnest($1::text[], $2::text[]) AS sent(id, version)"
    "   ON events.document_id = sent.id AND events.payload->>'version' = sent.version"
)
"""The events of exactly the versions sent (a re-ingest's, not the first ingest's)."""


async def wait_indexed(database_url: str, versions: dict[str, str], timeout: float) -> None:
    """Poll the event log until every version sent has its ``document.indexed`` event.

    The event log, not ``GET /v1/documents``: paging every document's status each
    second would load the gateway and the session-logger during the measurement.

    Raises:
        RuntimeError: a document failed. TimeoutError: not all indexed in ``timeout`` s.
    """
    query = (
        "SELECT count(DISTINCT sent.id) FILTER (WHERE event_type = 'document.indexed'),"
        " min(payload->>'reason') FILTER (WHERE event_type = 'document.failed'"
        "   AND NOT coalesce((payload->>'retryable')::boolean, false))" + SENT
    )
    deadline = time.monotonic() + timeout
    connection = await asyncpg.connect(database_url)
    try:
        while True:
            indexed, failure = await connection.fetchrow(
                query, list(versions), list(versions.values())
            )
            if failure is not None:
                raise RuntimeError(f"a document failed to index: {failure}")
            if indexed >= len(versions):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(versions) - indexed} documents not indexed in time")
            await asyncio.sleep(POLL_S)
    finally:
        await connection.close()


async def event_span(database_url: str, versions: dict[str, str]) -> tuple[int, int, float]:
    """Documents indexed, their chunks, and seconds from first accept to last indexed.

    Only the events of the versions sent count (a re-ingest's, not the first ingest's).
    """
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(DISTINCT sent.id) FILTER (WHERE event_type = 'document.indexed')"
            "   AS documents,"
            " coalesce(sum((payload->>'chunk_count')::int)"
            "   FILTER (WHERE event_type = 'document.indexed'), 0) AS chunks,"
            " extract(epoch FROM max(occurred_at) FILTER (WHERE event_type = 'document.indexed')"
            "   - min(occurred_at) FILTER (WHERE event_type = 'document.accepted')) AS seconds"
            + SENT,
            list(versions),
            list(versions.values()),
        )
    finally:
        await connection.close()
    assert row is not None
    return int(row["documents"]), int(row["chunks"]), float(row["seconds"] or 0.0)


async def through_api(
    stack: Stack, corpus: Corpus, *, profile_dir: Path | None, timeout: float = 7200
) -> IngestRun:
    """Ingest ``corpus`` through the gateway and time it from the event log."""
    spy = None
    if profile_dir is not None:
        pid = stack.group["indexer"].pid
        assert pid is not None
        spy = PySpy(pid, profile_dir / f"indexer-{corpus.name.replace(' ', '-')}.txt")
    async with LecternClient(stack.base_url, timeout=120) as client:
        versions = await send(client, corpus.bodies)
    await wait_indexed(stack.env["DATABASE_URL"], versions, timeout)
    folded = spy.stop() if spy is not None else []
    documents, chunks, seconds = await event_span(stack.env["DATABASE_URL"], versions)
    return IngestRun(corpus, documents, chunks, seconds, folded)


async def raw_rate(texts: list[str]) -> float:
    """Chunks per second embedding ``texts`` (dense + BM25) as the indexer does, in-process."""
    rate, _ = await raw_rate_and_cpu(texts)
    return rate


async def raw_rate_and_cpu(texts: list[str]) -> tuple[float, float]:
    """:func:`raw_rate`, and the CPU seconds (all threads) the embedding took."""
    defaults = IndexerSettings.model_fields
    embedder = FastembedEmbedder(
        model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx"),
        model_path("SPARSE_MODEL_PATH", "bm25"),
        batch_size=defaults["embed_batch_size"].default,
    )
    await embedder.load()
    try:
        await embedder.embed_documents(texts[:16])  # warm-up: first ONNX call allocates
        started, cpu = time.perf_counter(), time.process_time()
        await embedder.embed_documents(texts)
        return len(texts) / (time.perf_counter() - started), time.process_time() - cpu
    finally:
        await embedder.close()


async def rows(runs: list[IngestRun]) -> list[Row]:
    """The raw limit for each run's chunk texts (stack stopped), and the report rows."""
    found: list[Row] = []
    dense_path = model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx")
    for run in runs:
        texts = await asyncio.to_thread(chunk_texts, run.corpus.bodies, dense_path)
        limit = await raw_rate(texts)
        rate = run.chunks / run.seconds if run.seconds > 0 else None
        note = f"{run.documents} docs, {run.chunks} chunks ({len(texts)} re-chunked)"
        found.append(
            Row(
                SECTION,
                f"{run.corpus.name}: chunks/s",
                rate,
                "chunks/s",
                limit,
                "fastembed, same texts, 1 process",
                TARGET,
                note,
            )
        )
        if run.corpus.name.startswith("scifact"):
            docs = run.documents / run.seconds if run.seconds > 0 else None
            per_doc = len(texts) / max(len(run.corpus.bodies), 1)
            found.append(
                Row(
                    SECTION,
                    f"{run.corpus.name}: documents/s",
                    docs,
                    "docs/s",
                    limit / per_doc,
                    "raw chunks/s / chunks per doc",
                    TARGET,
                )
            )
        if run.profile:
            found.append(_profile_row(run))
    return found


def _profile_row(run: IngestRun) -> Row:
    """How busy the document-embedding thread was, and where busy samples went."""
    shares = stage_shares(run.profile)
    idle = shares.pop(IDLE, 0.0)
    busy = {stage: share / (1 - idle) for stage, share in shares.items()} if idle < 1 else {}
    embedding = thread_busy(run.profile, "embed-documents")
    return Row(
        SECTION,
        f"{run.corpus.name}: indexer's embedding thread busy (py-spy)",
        None if embedding is None else embedding * 100,
        "% of samples",
        limit=100.0,
        limit_label="always embedding",
        note=f"busy samples of all threads: {shares_line(busy)}",
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/<pid>/stat``)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _main(documents: int, profile_dir: Path | None, **settings: str) -> None:
    """Ingest the first ``documents`` SciFact abstracts on a private stack; print figures.

    Besides the rates, CPU seconds per chunk of the indexer process and of the raw
    embedding: on a machine shared with other work the rates follow the load, the CPU
    cost per chunk much less.
    """
    import os
    import tempfile

    from bench.corpora import scifact_corpus
    from bench.stack import bench_stack

    corpus = scifact_corpus("scifact", documents)
    with (
        tempfile.TemporaryDirectory(prefix="lectern-ingest-") as base,
        bench_stack(Path(base), **settings) as stack,
    ):
        pid = stack.group["indexer"].pid
        assert pid is not None
        before = cpu_seconds(pid)
        run = await through_api(stack, corpus, profile_dir=profile_dir)
        indexer_cpu = cpu_seconds(pid) - before
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    dense_path = model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx")
    texts = await asyncio.to_thread(chunk_texts, corpus.bodies, dense_path)
    limit, raw_cpu = await raw_rate_and_cpu(texts)
    rate = run.chunks / run.seconds
    print(f"load average after the ingest: {load}; after the raw run: {os.getloadavg()}")
    print(f"documents {run.documents}, chunks {run.chunks}, seconds {run.seconds:.1f}")
    print(f"Lectern {rate:.2f} chunks/s ({run.documents / run.seconds:.2f} docs/s)")
    print(f"raw {limit:.2f} chunks/s; ratio {rate / limit:.3f}")
    print(
        f"CPU s per chunk: indexer {indexer_cpu / run.chunks * 1000:.1f} ms, "
        f"raw {raw_cpu / len(texts) * 1000:.1f} ms"
    )
    if run.profile:
        print(_profile_row(run))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="SciFact ingest next to the raw limit")
    parser.add_argument("--documents", type=int, default=500, help="abstracts to ingest")
    parser.add_argument("--profile", type=Path, help="py-spy the indexer into this folder")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME=VALUE", help="indexer settings"
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    asyncio.run(_main(args.documents, args.profile, **extra))
