"""Client-side fusion: formulas, explanations and a total order on ties (no I/O)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lectern.contracts import FusionMethod, SearchMode
from lectern_indexer.embedding import SparseVector
from lectern_indexer.fusion import FusionConfig, fuse, fused_search, fused_search_blocking, single
from lectern_indexer.stores.base import ScoredPoint, VectorQuery

METHODS: list[FusionMethod] = ["rrf", "weighted_rrf", "dbsf", "convex"]


def points(*scored: tuple[str, float]) -> list[ScoredPoint]:
    return [ScoredPoint(i, s, {"document_id": i}) for i, s in scored]


def test_rrf_sums_reciprocal_ranks():
    dense = points(("a", 0.9), ("b", 0.8))
    sparse = points(("b", 12.0), ("c", 3.0))
    fused = fuse(dense, sparse, FusionConfig("rrf", rrf_k=60), 10)
    assert [p.id for p in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)


def test_weighted_rrf_favours_the_heavier_list():
    dense = points(("a", 0.9), ("b", 0.8))
    sparse = points(("b", 12.0), ("a", 3.0))
    config = FusionConfig("weighted_rrf", rrf_k=60, dense_weight=0.3, sparse_weight=0.7)
    assert [p.id for p in fuse(dense, sparse, config, 10)] == ["b", "a"]


def test_dbsf_maps_mean_plus_minus_three_deviations():
    dense = points(("a", 3.0), ("b", 1.0))  # mean 2, population std 1: range -1..5
    fused = fuse(dense, [], FusionConfig("dbsf", dense_weight=1.0, sparse_weight=1.0), 10)
    assert [p.score for p in fused] == pytest.approx([4 / 6, 2 / 6])
    constant = fuse(points(("a", 2.0), ("b", 2.0)), [], FusionConfig("dbsf"), 10)
    assert [p.score for p in constant] == [0.25, 0.25]  # 0.5 times weight 0.5


def test_convex_weights_min_max_normalised_scores():
    dense = points(("a", 0.9), ("b", 0.5))
    sparse = points(("b", 20.0), ("c", 10.0))
    config = FusionConfig("convex", dense_weight=0.4, sparse_weight=0.6)
    fused = {p.id: p.score for p in fuse(dense, sparse, config, 10)}
    assert fused == pytest.approx({"a": 0.4, "b": 0.6, "c": 0.0})


@pytest.mark.parametrize("method", METHODS)
def test_explanation_reports_both_lists(method: FusionMethod):
    dense = points(("a", 0.9), ("b", 0.8))
    sparse = points(("b", 12.0), ("c", 3.0))
    fused = {p.id: p for p in fuse(dense, sparse, FusionConfig(method), 10)}
    b = fused["b"].explain
    assert b is not None
    assert (b.dense_score, b.dense_rank, b.sparse_score, b.sparse_rank) == (0.8, 2, 12.0, 1)
    assert (b.fused_score, b.fusion) == (fused["b"].score, method)
    a = fused["a"].explain
    assert a is not None
    assert (a.sparse_score, a.sparse_rank) == (None, None)


def test_single_list_ties_rank_by_point_id_and_are_explained():
    hits = single(points(("z", 1.0), ("m", 2.0), ("a", 1.0), ("k", 1.0)), "sparse", 3)
    assert [h.id for h in hits] == ["m", "a", "k"]
    assert [h.explain.sparse_rank for h in hits if h.explain] == [1, 2, 3]


scores = st.sampled_from([0.0, 0.25, 0.5, 1.0])  # few values: many ties
lists = st.lists(st.tuples(st.sampled_from("abcdefgh"), scores), unique_by=lambda t: t[0])


@given(dense=lists, sparse=lists, method=st.sampled_from(METHODS), seed=st.integers(0, 99))
def test_fusion_is_a_total_order_independent_of_input_order(
    dense: list[tuple[str, float]],
    sparse: list[tuple[str, float]],
    method: FusionMethod,
    seed: int,
):
    config = FusionConfig(method)
    expected = fuse(points(*dense), points(*sparse), config, 5)
    shuffled_dense, shuffled_sparse = points(*dense), points(*sparse)
    random.Random(seed).shuffle(shuffled_dense)
    random.Random(seed + 1).shuffle(shuffled_sparse)
    again = fuse(shuffled_dense, shuffled_sparse, config, 5)
    assert [(p.id, p.score) for p in again] == [(p.id, p.score) for p in expected]
    keys = [(-p.score, p.id) for p in expected]
    assert keys == sorted(keys)


async def test_fused_search_fetches_payloads_only_for_the_chunks_it_keeps():
    """Candidates come bare; one payload lookup for the ``limit`` kept, in rank order."""
    dense_list = [ScoredPoint(f"d{i}", 1 - i / 100, {}) for i in range(50)]
    sparse_list = [ScoredPoint(f"s{i}", 50.0 - i, {}) for i in range(50)]
    asked: list[list[str]] = []

    async def nearest(query: VectorQuery, mode: SearchMode, limit: int) -> list[ScoredPoint]:
        return (dense_list if mode == "dense" else sparse_list)[:limit]

    async def payloads(ids: list[str]) -> dict[str, dict[str, Any]]:
        asked.append(ids)
        return {i: {"document_id": i} for i in ids if i != "s1"}  # s1 deleted meanwhile

    query = VectorQuery("hybrid", [1.0], SparseVector([1], [1.0]), limit=5, prefetch_limit=50)
    found = await fused_search(nearest, query, payloads)
    expected = [p.id for p in fuse(dense_list, sparse_list, query.fusion, 5)]
    assert asked == [expected]
    assert [p.id for p in found] == [i for i in expected if i != "s1"]
    assert all(p.payload == {"document_id": p.id} and p.explain for p in found)


_scores = st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), max_size=30)


@given(
    dense_scores=_scores,
    sparse_scores=_scores,
    mode=st.sampled_from(["dense", "sparse", "hybrid"]),
    method=st.sampled_from(METHODS),
    limit=st.integers(min_value=1, max_value=12),
    gone=st.sets(st.integers(min_value=0, max_value=29), max_size=5),
)
async def test_the_blocking_search_ranks_as_the_async_one(
    dense_scores: list[float],
    sparse_scores: list[float],
    mode: SearchMode,
    method: FusionMethod,
    limit: int,
    gone: set[int],
) -> None:
    """The Edge store's one-job search and the server store's async one agree exactly."""
    lists = {
        "dense": [ScoredPoint(f"p{i}", s, {}) for i, s in enumerate(dense_scores)],
        "sparse": [ScoredPoint(f"p{i}", s, {}) for i, s in enumerate(sparse_scores)],
    }
    removed = {f"p{i}" for i in gone}

    def nearest_blocking(query: VectorQuery, m: SearchMode, n: int) -> list[ScoredPoint]:
        return sorted(lists[m], key=lambda p: (-p.score, p.id))[:n]

    def payloads_blocking(ids: list[str]) -> dict[str, dict[str, Any]]:
        return {i: {"document_id": i} for i in ids if i not in removed}

    async def nearest(query: VectorQuery, m: SearchMode, n: int) -> list[ScoredPoint]:
        return nearest_blocking(query, m, n)

    async def payloads(ids: list[str]) -> dict[str, dict[str, Any]]:
        return payloads_blocking(ids)

    query = VectorQuery(
        mode,
        [1.0],
        SparseVector([1], [1.0]),
        limit=limit,
        prefetch_limit=30,
        fusion=FusionConfig(method),
    )
    expected = await fused_search(nearest, query, payloads)
    assert fused_search_blocking(nearest_blocking, query, payloads_blocking) == expected
