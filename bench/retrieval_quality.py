"""Benchmark 7: nDCG@10 on BEIR SciFact (dense, sparse, hybrid) next to published figures.

The machinery of ``make eval`` (``eval_sets``/``eval_runs``): SciFact indexed once
through the indexer's service layer into the cache under ``EVAL_QDRANT_PATH`` (default
``data/eval``), reused by later runs; candidate lists fetched with the product's store
search and fused with the product's ``fuse``; scored with ranx. The quick run indexes a
small subset (the relevant abstracts of the first queries plus distractors) under its
own cache name: its figures only prove the plumbing.
"""

from __future__ import annotations

from bench.eval_report import REFERENCES, TARGETS
from bench.eval_runs import CANDIDATES, Variant, candidate_lists, fused_run, scores, single_runs
from bench.eval_sets import INDEX_ROOT, load_set, new_embedder, open_service, subset
from bench.report import Row, Target
from lectern_indexer.fusion import DEFAULT_FUSION
from lectern_indexer.service import SearchSettings

SECTION = "7 retrieval (SciFact)"


async def run(quick: bool) -> list[Row]:
    """Score dense, sparse and the default hybrid; rows next to the published figures."""
    data = load_set("scifact")
    if quick:
        data = subset(data, 20, 100)
    embedder = new_embedder()
    await embedder.load()
    settings = SearchSettings(fusion=DEFAULT_FUSION, prefetch_limit=100, timeout=120)
    service = await open_service(data, embedder, settings=settings)
    try:
        cache = INDEX_ROOT / data.name / f"candidates-{CANDIDATES}.json"
        lists = await candidate_lists(service, data.queries, cache)
    finally:
        await service.store.close()
        await embedder.close()
    runs = single_runs(lists) | {"hybrid": fused_run(lists, Variant("default", DEFAULT_FUSION))}
    ndcg = {mode: scores(data.qrels, run)["ndcg@10"] for mode, run in runs.items()}
    bm25, minilm = (value for _, value in REFERENCES["scifact"])
    note = f"{len(data.queries)} queries, {len(data.corpus)} abstracts" + (
        " (quick subset: not comparable)" if quick else ""
    )
    return [
        Row(SECTION, "dense nDCG@10", ndcg["dense"], "", minilm, "MiniLM-L6, MTEB", note=note),
        Row(SECTION, "sparse nDCG@10", ndcg["sparse"], "", bm25, "BM25, BEIR paper"),
        Row(
            SECTION,
            "hybrid (default fusion) nDCG@10",
            ndcg["hybrid"],
            "",
            max(bm25, minilm),
            "best published single",
            Target("min", TARGETS["scifact"]),
        ),
    ]
