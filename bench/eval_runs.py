"""Retrieval runs of the eval: candidate lists through the product's search path, fused.

For every query, the harness embeds the text with the indexer's embedder and asks the
store for the dense and the sparse candidate list (``store.search`` in ``dense`` and
``sparse`` mode, the calls a hybrid search makes), once. Each fusion variant then runs
:func:`lectern_indexer.fusion.fuse`, the function both stores call for ``hybrid``, on
those lists, so dozens of variants cost one retrieval per query. ``confirm`` checks that
``IndexerService.retrieve`` (the RPC's path) ranks exactly as the harness does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranx import Qrels, Run, evaluate

from lectern_indexer.fusion import SCORE_DIGITS, FusionConfig, fuse
from lectern_indexer.service import IndexerService
from lectern_indexer.stores.base import ScoredPoint, VectorQuery

CANDIDATES = 200
"""Chunks per candidate list (and per fused run) before pooling to documents."""
METRICS = ["ndcg@10", "recall@100", "mrr@10"]


@dataclass(frozen=True)
class Lists:
    """The two candidate lists of one query (each by descending score)."""

    dense: list[ScoredPoint]
    sparse: list[ScoredPoint]


def _point(row: list[Any]) -> ScoredPoint:
    # Rounded as the stores' search path rounds raw scores (fusion.SCORE_DIGITS).
    return ScoredPoint(str(row[0]), round(float(row[1]), SCORE_DIGITS), {"document_id": row[2]})


def _rows(points: list[ScoredPoint]) -> list[list[Any]]:
    return [[p.id, p.score, p.payload["document_id"]] for p in points]


async def candidate_lists(
    service: IndexerService, queries: dict[str, str], cache: Path
) -> dict[str, Lists]:
    """Embed every query once and fetch its dense and sparse lists of :data:`CANDIDATES`.

    The lists (id, score, document id) are kept in ``cache`` (JSON), next to the index
    they come from, so fusion variants can be re-measured without retrieving again.
    """
    cached = _load(cache)
    if cached is not None:
        return cached
    found: dict[str, Lists] = {}
    for n, (query_id, text) in enumerate(queries.items(), start=1):
        if n % 100 == 0:
            print(f"  retrieved {n}/{len(queries)} queries", file=sys.stderr)
        embedding = await service.embedder.embed_query(text)
        lists = []
        for mode in ("dense", "sparse"):
            if mode == "sparse" and not embedding.sparse.indices:
                lists.append([])
                continue
            request = VectorQuery(
                mode=mode, dense=embedding.dense, sparse=embedding.sparse, limit=CANDIDATES
            )
            lists.append(await service.store.search(request))
        found[query_id] = Lists(dense=lists[0], sparse=lists[1])
    _save(cache, found)
    return found


def _load(cache: Path) -> dict[str, Lists] | None:
    if not cache.exists():
        return None
    stored = json.loads(cache.read_text(encoding="utf-8"))
    return {
        q: Lists([_point(r) for r in v["dense"]], [_point(r) for r in v["sparse"]])
        for q, v in stored.items()
    }


def _save(cache: Path, found: dict[str, Lists]) -> None:
    rows = {q: {"dense": _rows(v.dense), "sparse": _rows(v.sparse)} for q, v in found.items()}
    cache.write_text(json.dumps(rows), encoding="utf-8")


def documents(points: list[ScoredPoint]) -> list[str]:
    """Pool chunks to documents by their best chunk; the first 100 document ids, ranked."""
    seen: dict[str, None] = {}
    for point in points:  # already in descending score, ties by point id
        seen.setdefault(str(point.payload["document_id"]), None)
        if len(seen) == 100:
            break
    return list(seen)


def to_run(ranked: dict[str, list[str]]) -> Run:
    """A ranx run whose scores follow our order exactly (no ties for ranx to reorder)."""
    return Run(
        {
            query_id: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} or {"__none__": 0.0}
            for query_id, docs in ranked.items()
        }
    )


@dataclass(frozen=True)
class Variant:
    """A hybrid fusion to measure: the config and the depth of each candidate list."""

    name: str
    config: FusionConfig
    dense_depth: int = 100
    sparse_depth: int = 100


def fused_run(lists: dict[str, Lists], variant: Variant) -> dict[str, list[str]]:
    """Documents per query for ``variant``, by the product's own :func:`fuse`."""
    return {
        query_id: documents(
            fuse(
                pair.dense[: variant.dense_depth],
                pair.sparse[: variant.sparse_depth],
                variant.config,
                CANDIDATES,
            )
        )
        for query_id, pair in lists.items()
    }


def single_runs(lists: dict[str, Lists]) -> dict[str, dict[str, list[str]]]:
    """Dense-only and sparse-only document runs."""
    return {
        "dense": {q: documents(pair.dense) for q, pair in lists.items()},
        "sparse": {q: documents(pair.sparse) for q, pair in lists.items()},
    }


def scores(qrels: dict[str, dict[str, int]], ranked: dict[str, list[str]]) -> dict[str, float]:
    """nDCG@10, recall@100 and MRR@10 of a run (ranx)."""
    result = evaluate(Qrels(qrels), to_run(ranked), METRICS)
    assert isinstance(result, dict)
    return {k: float(v) for k, v in result.items()}


def per_query(qrels: dict[str, dict[str, int]], ranked: dict[str, list[str]]) -> dict[str, float]:
    """nDCG@10 of every query of a run (ranx)."""
    run = to_run(ranked)
    evaluate(Qrels(qrels), run, "ndcg@10", return_mean=False, save_results_in_run=True)
    return {query_id: float(v) for query_id, v in run.scores["ndcg@10"].items()}


async def confirm(
    service: IndexerService,
    queries: dict[str, str],
    expected: dict[str, list[str]],
    variant: Variant,
) -> int:
    """Run ``variant`` through ``IndexerService.retrieve``; count queries ranked otherwise."""
    differ = 0
    for query_id, text in queries.items():
        points = await service.retrieve(text, "hybrid", CANDIDATES)
        if documents(points) != expected[query_id]:
            differ += 1
    return differ
