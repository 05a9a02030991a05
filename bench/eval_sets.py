"""Evaluation sets in BEIR layout and Lectern indexes built from them, cached on disk.

Each set (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``) is indexed once through
the indexer's own service layer (validation, parsing, chunking, fastembed dense + BM25,
Qdrant Edge) into ``<EVAL_QDRANT_PATH>/<set>``; a ``complete`` marker file records a
finished build, so later runs only query. Every document is ingested as ``format: text``
with content = title + newline + text (BEIR's convention). Only a query's ``text`` is
read: E-manual's query ``metadata`` holds the answers and is never looked at.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lectern.contracts import IngestDocument, content_version
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.embedding import FastembedEmbedder
from lectern_indexer.service import IndexerService, SearchSettings
from lectern_indexer.stores.edge import QdrantEdgeStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EVAL_ROOT = Path(os.environ.get("EVAL_DATA_DIR", SHARED / "eval"))
INDEX_ROOT = Path(os.environ.get("EVAL_QDRANT_PATH", ROOT / "data" / "eval"))


@dataclass(frozen=True)
class EvalSet:
    """One loaded evaluation set.

    Attributes:
        name: folder name (``scifact``, ``emanual``).
        corpus: BEIR corpus records (``_id``, ``title``, ``text``).
        queries: query id -> query text, only queries with a relevant document.
        qrels: query id -> document id -> gain (> 0).
    """

    name: str
    corpus: list[dict[str, Any]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_set(name: str) -> EvalSet:
    """Load ``EVAL_DATA_DIR/<name>`` (default ``../shared/eval/<name>``)."""
    folder = EVAL_ROOT / name
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    lines = (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        query_id, doc_id, score = line.strip().split("\t")
        if int(score) > 0:
            qrels[query_id][doc_id] = int(score)
    queries = {q["_id"]: q["text"] for q in _read_jsonl(folder / "queries.jsonl")}
    return EvalSet(
        name=name,
        corpus=_read_jsonl(folder / "corpus.jsonl"),
        queries={qid: text for qid, text in queries.items() if qid in qrels},
        qrels=dict(qrels),
    )


def subset(data: EvalSet, queries: int, distractors: int) -> EvalSet:
    """The first ``queries`` queries, their relevant documents and ``distractors`` others.

    Named ``<name>-quick-<queries>-<distractors>`` so its index is cached on its own.
    """
    chosen = dict(list(data.queries.items())[:queries])
    relevant = {doc for query in chosen for doc in data.qrels[query]}
    others = [d for d in data.corpus if d["_id"] not in relevant][:distractors]
    corpus = [d for d in data.corpus if d["_id"] in relevant] + others
    return EvalSet(
        name=f"{data.name}-quick-{queries}-{distractors}",
        corpus=corpus,
        queries=chosen,
        qrels={q: data.qrels[q] for q in chosen},
    )


def model_path(variable: str, folder: str) -> Path | None:
    """The model folder from ``variable``, else ``../shared/models/<folder>`` if present."""
    value = os.environ.get(variable)
    if value:
        return Path(value)
    candidate = SHARED / "models" / folder
    return candidate if candidate.is_dir() else None


def document_command(doc: dict[str, Any]) -> IngestDocument | None:
    """The ingest command of one corpus record (``None`` for an empty record)."""
    content = f"{doc.get('title') or ''}\n{doc.get('text') or ''}".strip()
    if not content:
        return None
    return IngestDocument(
        document_id=doc["_id"],
        version=content_version(content),
        title=(doc.get("title") or doc["_id"])[:512],
        format="text",
        content=content,
    )


async def _index(service: IndexerService, corpus: list[dict[str, Any]], concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    started = time.perf_counter()

    async def ingest(doc: dict[str, Any]) -> None:
        nonlocal done
        command = document_command(doc)
        if command is None:
            return
        async with semaphore:
            await service.ingest(command)
        done += 1
        if done % 250 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"  indexed {done}/{len(corpus)} documents ({rate:.1f} docs/s)", file=sys.stderr)

    await asyncio.gather(*(ingest(doc) for doc in corpus))


async def open_service(
    data: EvalSet, embedder: FastembedEmbedder, *, settings: SearchSettings
) -> IndexerService:
    """Open (building once if needed) the Qdrant Edge index of ``data``.

    The caller closes ``service.store``.
    """
    path = INDEX_ROOT / data.name
    marker = path / "complete"
    dense_path = model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx")
    store = QdrantEdgeStore(path, timeout=300)
    await store.open()
    service = IndexerService(
        store,
        embedder,
        Chunker(WordPieceCounter.from_model_path(dense_path)),
        max_document_bytes=5 * 1024 * 1024,
        search=settings,
    )
    if not marker.exists():
        started = time.perf_counter()
        print(f"indexing {data.name}: {len(data.corpus)} documents into {path}", file=sys.stderr)
        await _index(service, data.corpus, int(os.environ.get("EVAL_CONCURRENCY", "8")))
        marker.write_text(f"{len(data.corpus)}\n", encoding="utf-8")
        print(f"indexed {data.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return service


def new_embedder() -> FastembedEmbedder:
    """The embedder the indexer uses, on the offline models when present."""
    return FastembedEmbedder(
        model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx"),
        model_path("SPARSE_MODEL_PATH", "bm25"),
        batch_size=32,
    )


async def build(names: list[str]) -> None:
    """Build the cached index of every named set."""
    embedder = new_embedder()
    await embedder.load()
    for name in names:
        service = await open_service(load_set(name), embedder, settings=SearchSettings())
        await service.store.close()
    await embedder.close()


if __name__ == "__main__":
    asyncio.run(build(sys.argv[1:] or ["emanual", "scifact"]))
