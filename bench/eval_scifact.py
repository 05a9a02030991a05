"""Retrieval quality of Lectern's own pipeline on BEIR SciFact (test split, 300 queries).

Indexes ``/work/shared/eval/scifact/corpus.jsonl`` (5,183 abstracts, title, a line break, then
text per document, as BEIR does) through the indexer's service layer in-process:
validation, parsing, chunking, fastembed dense + BM25, Qdrant Edge, search. No RabbitMQ.
Chunks are aggregated to documents by their best score (max-pooling), then nDCG@10 and
recall@100 are computed with ranx for dense, sparse and hybrid (RRF) retrieval.

Settings (environment): ``EMBEDDING_MODEL_PATH``, ``SPARSE_MODEL_PATH`` (default: the
offline models in ``../shared/models``), ``SCIFACT_DIR``, ``EVAL_QDRANT_PATH`` (reuse an
index built before; default a temporary folder), ``EVAL_CONCURRENCY``.

Reference (published, see the data README): BM25 0.665-0.679, all-MiniLM-L6-v2 0.645.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ranx import Qrels, Run, evaluate

from lectern.contracts import IngestDocument, SearchMode, content_version
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.embedding import FastembedEmbedder
from lectern_indexer.service import IndexerService, SearchSettings
from lectern_indexer.stores.edge import QdrantEdgeStore

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT.parent / "shared" / "models"
DATA = Path(os.environ.get("SCIFACT_DIR", ROOT.parent / "shared" / "eval" / "scifact"))
CANDIDATES = 200
"""Chunks retrieved per query (and per vector before fusion) before pooling to documents."""
RUNS: list[tuple[str, SearchMode, int]] = [
    ("dense", "dense", 60),
    ("sparse", "sparse", 60),
    ("hybrid (RRF k=60)", "hybrid", 60),
    ("hybrid (RRF k=20)", "hybrid", 20),
]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _qrels() -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    lines = (DATA / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        query_id, doc_id, score = line.strip().split("\t")
        if int(score) > 0:
            qrels[query_id][doc_id] = int(score)
    return dict(qrels)


def _model_path(variable: str, folder: str) -> Path | None:
    value = os.environ.get(variable)
    if value:
        return Path(value)
    return MODELS / folder if (MODELS / folder).is_dir() else None


async def _index(service: IndexerService, corpus: list[dict[str, Any]], concurrency: int) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    started = time.perf_counter()

    async def ingest(doc: dict[str, Any]) -> None:
        nonlocal done
        content = f"{doc.get('title', '')}\n{doc.get('text', '')}".strip()
        command = IngestDocument(
            document_id=doc["_id"],
            version=content_version(content),
            title=(doc.get("title") or doc["_id"])[:512],
            format="text",
            content=content,
        )
        async with semaphore:
            await service.ingest(command)
        done += 1
        if done % 500 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"  indexed {done}/{len(corpus)} documents ({rate:.1f} docs/s)", file=sys.stderr)

    await asyncio.gather(*(ingest(doc) for doc in corpus))


async def _run(
    service: IndexerService, queries: dict[str, str], mode: SearchMode
) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for query_id, text in queries.items():
        points = await service.retrieve(text, mode, CANDIDATES)
        best: dict[str, float] = {}
        for point in points:
            doc_id = str(point.payload["document_id"])
            best[doc_id] = max(best.get(doc_id, float("-inf")), point.score)
        top = sorted(best.items(), key=lambda item: item[1], reverse=True)[:100]
        run[query_id] = dict(top) or {"__none__": 0.0}
    return run


async def main() -> None:
    qrels = _qrels()
    queries = {
        q["_id"]: q["text"] for q in _read_jsonl(DATA / "queries.jsonl") if q["_id"] in qrels
    }
    corpus = _read_jsonl(DATA / "corpus.jsonl")
    dense_path = _model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx")
    embedder = FastembedEmbedder(
        dense_path, _model_path("SPARSE_MODEL_PATH", "bm25"), batch_size=32
    )
    await embedder.load()
    with tempfile.TemporaryDirectory(prefix="lectern-scifact-") as tmp:
        store = QdrantEdgeStore(Path(os.environ.get("EVAL_QDRANT_PATH", tmp)), timeout=300)
        await store.open()
        chunker = Chunker(WordPieceCounter.from_model_path(dense_path))
        service = IndexerService(
            store,
            embedder,
            chunker,
            max_document_bytes=5 * 1024 * 1024,
            search=SearchSettings(prefetch_limit=CANDIDATES, timeout=60),
        )
        started = time.perf_counter()
        print(f"indexing {len(corpus)} documents...", file=sys.stderr)
        await _index(service, corpus, int(os.environ.get("EVAL_CONCURRENCY", "8")))
        print(f"indexed in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        results: dict[str, dict[str, float]] = {}
        for name, mode, rrf_k in RUNS:
            service.search_settings = SearchSettings(
                prefetch_limit=CANDIDATES, rrf_k=rrf_k, timeout=60
            )
            run = await _run(service, queries, mode)
            results[name] = evaluate(Qrels(qrels), Run(run), ["ndcg@10", "recall@100"])
        await store.close()
    await embedder.close()
    print(f"\nBEIR SciFact test ({len(queries)} queries, {len(corpus)} documents)\n")
    print(f"| {'retrieval':<18} | nDCG@10 | recall@100 |")
    print(f"| {'-' * 18} | ------- | ---------- |")
    for name, scores in results.items():
        print(f"| {name:<18} | {scores['ndcg@10']:.4f}  | {scores['recall@100']:.4f}     |")


if __name__ == "__main__":
    asyncio.run(main())
