"""Retrieval quality of Lectern's own pipeline on BEIR SciFact and E-manual (``make eval``).

Indexes each set once through the indexer's service layer (cached under
``EVAL_QDRANT_PATH``, see ``eval_sets.py``), then measures dense, sparse and hybrid
retrieval (chunks pooled to documents by their best chunk) with ranx: nDCG@10,
recall@100, MRR@10, next to published reference figures; then every fusion variant of
``VARIANTS`` on both sets, and a per-query bound on what any fusion of the two lists can
reach. The harness is in-process: it calls the same store search and the same
:func:`lectern_indexer.fusion.fuse` as the indexer's RPC path, and checks once that
``IndexerService.retrieve`` ranks identically (see ``eval_runs.py``).

Settings (environment): ``EMBEDDING_MODEL_PATH``, ``SPARSE_MODEL_PATH`` (default: the
offline models in ``../shared/models``), ``EVAL_DATA_DIR`` (default ``../shared/eval``),
``EVAL_QDRANT_PATH`` (index cache, default ``data/eval``), ``EVAL_SETS``
(default ``scifact,emanual``), ``EVAL_CONCURRENCY`` (documents ingested at once).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script (make eval)

from bench.eval_report import bound_lines, fusion_table, set_table
from bench.eval_runs import (
    CANDIDATES,
    Variant,
    candidate_lists,
    confirm,
    fused_run,
    per_query,
    scores,
    single_runs,
)
from bench.eval_sets import INDEX_ROOT, load_set, new_embedder, open_service
from lectern_indexer.fusion import DEFAULT_FUSION, FusionConfig
from lectern_indexer.service import SearchSettings


def _variants() -> list[Variant]:
    rrf = [Variant(f"rrf k={k}", FusionConfig("rrf", rrf_k=k)) for k in (10, 20, 60, 100)]
    weighted = [
        Variant(f"weighted_rrf k={k} sparse={s}", FusionConfig("weighted_rrf", k, 1 - s, s))
        for k in (20, 60)
        for s in (0.6, 0.7)
    ]
    dbsf = [
        Variant(f"dbsf sparse={s}", FusionConfig("dbsf", dense_weight=1 - s, sparse_weight=s))
        for s in (0.5, 0.6, 0.7, 0.8)
    ]
    convex = [
        Variant(f"convex alpha={a}", FusionConfig("convex", dense_weight=a, sparse_weight=1 - a))
        for a in (0.2, 0.3, 0.33, 0.35, 0.37, 0.4, 0.5, 0.6)
    ]
    depths = [
        Variant(f"default, depth dense={d} sparse={s}", DEFAULT_FUSION, d, s)
        for d, s in ((50, 50), (200, 200), (50, 200), (200, 50))
    ]
    return [Variant("default", DEFAULT_FUSION), *rrf, *weighted, *dbsf, *convex, *depths]


async def _evaluate_set(name: str, variants: list[Variant]) -> dict[str, object]:
    data = load_set(name)
    embedder = new_embedder()
    await embedder.load()
    settings = SearchSettings(fusion=DEFAULT_FUSION, prefetch_limit=100, timeout=120)
    service = await open_service(data, embedder, settings=settings)
    try:
        print(f"{name}: retrieving {len(data.queries)} queries", file=sys.stderr)
        cache = INDEX_ROOT / name / f"candidates-{CANDIDATES}.json"
        lists = await candidate_lists(service, data.queries, cache)
        runs = single_runs(lists)
        fused = {v.name: fused_run(lists, v) for v in variants}
        sample = dict(list(data.queries.items())[: int(os.environ.get("EVAL_CONFIRM", "100"))])
        # retrieve(limit=CANDIDATES) prefetches CANDIDATES per list: compare at that depth.
        deep = Variant("confirm", DEFAULT_FUSION, CANDIDATES, CANDIDATES)
        differ = await confirm(service, sample, fused_run(lists, deep), deep)
    finally:
        await service.store.close()
        await embedder.close()
    return {
        "data": data,
        "singles": {mode: scores(data.qrels, run) for mode, run in runs.items()},
        "fused": {v: scores(data.qrels, run) for v, run in fused.items()},
        "per_query": {
            "dense": per_query(data.qrels, runs["dense"]),
            "sparse": per_query(data.qrels, runs["sparse"]),
            "hybrid": per_query(data.qrels, fused["default"]),
        },
        "lists": lists,
        "differ": differ,
    }


async def main() -> None:
    """Evaluate every set of ``EVAL_SETS`` and print the tables."""
    names = os.environ.get("EVAL_SETS", "scifact,emanual").split(",")
    variants = _variants()
    results = {name: await _evaluate_set(name, variants) for name in names}
    for name, result in results.items():
        print(set_table(name, result))
        print("\n".join(bound_lines(name, result)))
        print(
            f"\nIndexerService.retrieve (hybrid, limit {CANDIDATES}) ranked {result['differ']} "
            f"of the first {os.environ.get('EVAL_CONFIRM', '100')} queries differently from "
            "the harness.\n"
        )
    print(fusion_table(results, [v.name for v in variants]))


if __name__ == "__main__":
    asyncio.run(main())
