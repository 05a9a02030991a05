"""Extractive-answer quality on SQuAD v1.1 dev (1,000 questions, ``../shared/eval/squad``).

Runs Lectern's own code in-process, without RabbitMQ: the gateway's sentence ranking
(:mod:`lectern_gateway.answers.extractive`) with the indexer's sentence scoring
(:func:`lectern_indexer.sentence_scoring.score_sentences`), and for open mode the
indexer's service layer (parsing, chunking, fastembed, Qdrant Edge, hybrid search).

- **reader** mode: the gold paragraph is the caller's ``context``; no retrieval.
- **open** mode: the 2,067 paragraphs are ingested as documents (id ``paragraph_id``,
  title the article); each question is answered from its top 5 hits.

Printed per mode and ranker: the share of questions whose top sentence contains a gold
answer, whose whole answer (up to 3 sentences) does, and (open mode) retrieval hit@5.
The baseline, computed in the same run on the same hits, is the unweighted share of
question terms a sentence contains (``overlap_scores``), top 3 by that share.

Settings (environment): ``EMBEDDING_MODEL_PATH``, ``SPARSE_MODEL_PATH`` (default: the
offline models in ``../shared/models``), ``SQUAD_DIR``, ``EVAL_CACHE_DIR`` (index and
embedding cache, reused by the next run; default ``data/eval-answers``), ``EVAL_MODES``
(``reader,open``), ``EVAL_THREADS`` (ONNX threads, default 1).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import string
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.embedding_cache import CachedEmbedder
from lectern.contracts import (
    IngestDocument,
    SearchHit,
    SearchRequest,
    SentenceScoreRequest,
    content_version,
)
from lectern_gateway.answers import extractive
from lectern_gateway.answers.sentences import overlap_scores
from lectern_gateway.answers.service import context_hits
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.embedding import FastembedEmbedder
from lectern_indexer.sentence_scoring import score_sentences
from lectern_indexer.service import IndexerService
from lectern_indexer.stores.edge import QdrantEdgeStore

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT.parent / "shared" / "models"
DATA = Path(os.environ.get("SQUAD_DIR", ROOT.parent / "shared" / "eval" / "squad"))
CACHE = Path(os.environ.get("EVAL_CACHE_DIR", ROOT / "data" / "eval-answers"))
TOP_K = 5


def normalize(text: str) -> str:
    """SQuAD v1.1's answer normalisation (lower case, no punctuation or articles)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def contains_gold(text: str, answers: Sequence[str]) -> bool:
    """Some normalised gold answer occurs in the normalised text as whole tokens."""
    padded = f" {normalize(text)} "
    return any(normalize(a) and f" {normalize(a)} " in padded for a in answers)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _model_path(variable: str, folder: str) -> Path | None:
    value = os.environ.get(variable)
    if value:
        return Path(value)
    return MODELS / folder if (MODELS / folder).is_dir() else None


class Tally:
    """Counts of one ranker: top sentence and whole answer containing gold, hits@5."""

    def __init__(self) -> None:
        self.total = self.first = self.whole = self.hit5 = 0

    def add(self, ranked: list[extractive.RankedSentence], answers: list[str], hit: bool) -> None:
        """Score one question's ranking (best first) against its gold answers."""
        best = ranked[: extractive.MAX_SENTENCES]
        self.total += 1
        self.first += bool(best) and contains_gold(best[0].candidate.text, answers)
        self.whole += contains_gold(" ".join(r.candidate.text for r in best), answers)
        self.hit5 += hit

    def row(self, name: str, retrieval: bool) -> str:
        """A Markdown table row with percentages."""
        share = [100 * x / max(self.total, 1) for x in (self.first, self.whole, self.hit5)]
        hit = f"{share[2]:5.1f} %" if retrieval else "  -    "
        return f"| {name:<30} | {share[0]:5.1f} %       | {share[1]:5.1f} %      | {hit} |"


def _baseline(question: str, found: list[extractive.Candidate]) -> list[extractive.RankedSentence]:
    scores = overlap_scores(question, [c.text for c in found])
    ranked = [extractive.RankedSentence(c, s) for c, s in zip(found, scores, strict=True)]
    return sorted(ranked, key=lambda r: (-r.score, r.candidate.hit, r.candidate.position))


async def _evaluate(
    embedder: CachedEmbedder, items: list[tuple[dict[str, Any], list[SearchHit], bool]]
) -> dict[str, Tally]:
    """Rank every question's candidates with each ranker; returns tallies by name."""
    found_all = [(q, extractive.candidates(q["question"], hits), hit) for q, hits, hit in items]
    texts = [q["question"] for q, _, _ in found_all] + [
        c.text for _, found, _ in found_all for c in found
    ]
    await embedder.warm(texts, "sentences")
    tallies = {name: Tally() for name in ("baseline: overlap", "lexical (IDF)", "dense", "lectern")}
    for question, found, hit in found_all:
        text, answers = question["question"], question["answers"]
        dense: list[float] | None = None
        if found:
            request = SentenceScoreRequest(question=text, sentences=[c.text for c in found])
            dense = (await score_sentences(embedder, request)).scores
        tallies["baseline: overlap"].add(_baseline(text, found), answers, hit)
        tallies["lexical (IDF)"].add(extractive.rank(text, found, None)[0], answers, hit)
        if dense is not None:
            only_dense = [
                extractive.RankedSentence(c, d) for c, d in zip(found, dense, strict=True)
            ]
            only_dense.sort(key=lambda r: -r.score)
            tallies["dense"].add(only_dense, answers, hit)
        else:
            tallies["dense"].add([], answers, hit)
        answer = extractive.compose(*extractive.rank(text, found, dense))
        tallies["lectern"].add(answer.ranked, answers, hit)
    return tallies


async def _ingest(service: IndexerService, paragraphs: list[dict[str, Any]]) -> None:
    started, done = time.perf_counter(), 0
    semaphore = asyncio.Semaphore(4)

    async def one(paragraph: dict[str, Any]) -> None:
        nonlocal done
        command = IngestDocument(
            document_id=paragraph["paragraph_id"],
            version=content_version(paragraph["text"]),
            title=paragraph["article"],
            format="text",
            content=paragraph["text"],
        )
        async with semaphore:
            await service.ingest(command)
        done += 1
        if done % 200 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"  ingested {done}/{len(paragraphs)} ({rate:.1f}/s)", file=sys.stderr)

    await asyncio.gather(*(one(p) for p in paragraphs))


async def _open_items(
    embedder: CachedEmbedder, questions: list[dict[str, Any]], paragraphs: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], list[SearchHit], bool]]:
    dense_path = _model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx")
    store = QdrantEdgeStore(CACHE / "qdrant", timeout=300)
    await store.open()
    service = IndexerService(
        store,
        embedder,
        Chunker(WordPieceCounter.from_model_path(dense_path)),
        max_document_bytes=5 * 1024 * 1024,
    )
    print(f"ingesting {len(paragraphs)} paragraphs (cached in {CACHE})...", file=sys.stderr)
    await _ingest(service, paragraphs)
    items = []
    for question in questions:
        response = await service.search(SearchRequest(query=question["question"], top_k=TOP_K))
        documents = list(dict.fromkeys(h.document_id for h in response.hits))[:TOP_K]
        items.append((question, response.hits, question["paragraph_id"] in documents))
    await store.close()
    return items


def _print(mode: str, tallies: dict[str, Tally], retrieval: bool) -> None:
    print(f"\n{mode} ({next(iter(tallies.values())).total} questions)\n")
    print(f"| {'ranker':<30} | top sentence  | whole answer | hit@5   |")
    print(f"| {'-' * 30} | ------------- | ------------ | ------- |")
    for name, tally in tallies.items():
        print(tally.row(name, retrieval))


async def main() -> None:
    questions = _read_jsonl(DATA / "questions.jsonl")
    paragraphs = _read_jsonl(DATA / "paragraphs.jsonl")
    by_id = {p["paragraph_id"]: p for p in paragraphs}
    modes = os.environ.get("EVAL_MODES", "reader,open").split(",")
    inner = FastembedEmbedder(
        _model_path("EMBEDDING_MODEL_PATH", "all-MiniLM-L6-v2-onnx"),
        _model_path("SPARSE_MODEL_PATH", "bm25"),
        batch_size=32,
        threads=int(os.environ.get("EVAL_THREADS", "1")),
    )
    await inner.load()
    embedder = CachedEmbedder(inner, CACHE / "embeddings.sqlite")
    results: list[tuple[str, dict[str, Tally], bool]] = []
    if "reader" in modes:
        items = [(q, context_hits([by_id[q["paragraph_id"]]["text"]]), False) for q in questions]
        results.append(
            ("reader mode: gold paragraph as context", await _evaluate(embedder, items), False)
        )
    if "open" in modes:
        items = await _open_items(embedder, questions, paragraphs)
        results.append(
            (
                f"open mode: top {TOP_K} hits of {len(paragraphs)} paragraphs",
                await _evaluate(embedder, items),
                True,
            )
        )
    await embedder.close()
    print(
        f"\nSQuAD v1.1 dev sample ({len(questions)} questions); ranking weights: "
        f"dense {extractive.DENSE_WEIGHT}, lexical {1 - extractive.DENSE_WEIGHT}, "
        f"rank decay {extractive.RANK_DECAY}"
    )
    for mode, tallies, retrieval in results:
        _print(mode, tallies, retrieval)


if __name__ == "__main__":
    asyncio.run(main())
