"""Tables and the per-query bound printed by ``eval_retrieval.py`` (Markdown)."""

from __future__ import annotations

import math
from typing import Any

from bench.eval_runs import Lists, documents

TARGETS = {"scifact": 0.72, "emanual": 0.80}
"""Issue 12's nDCG@10 targets for the default hybrid."""

REFERENCES: dict[str, list[tuple[str, float]]] = {
    "scifact": [
        ("BM25, BEIR paper (Thakur et al., NeurIPS 2021 Datasets & Benchmarks, Table 2)", 0.665),
        ("all-MiniLM-L6-v2, MTEB leaderboard, SciFact (Muennighoff et al., EACL 2023)", 0.645),
    ],
    "emanual": [
        ("sparse, Lectern HTTP path before issue 12 (emanual/README.md)", 0.793),
        ("dense, Lectern HTTP path before issue 12 (emanual/README.md)", 0.583),
        ("hybrid RRF, Lectern HTTP path before issue 12 (emanual/README.md)", 0.737),
        ("bm25s BM25, in-process reference (emanual/README.md)", 0.672),
        ("MiniLM exact, in-process reference (emanual/README.md)", 0.509),
        ("RRF of those two, in-process reference (emanual/README.md)", 0.645),
    ],
}
TITLES = {"scifact": "BEIR SciFact test", "emanual": "E-manual"}


def set_table(name: str, result: dict[str, Any]) -> str:
    """Dense / sparse / hybrid (default) with nDCG@10, recall@100, MRR@10, and references."""
    data = result["data"]
    rows = [*result["singles"].items(), ("hybrid (default)", result["fused"]["default"])]
    lines = [
        f"\n{TITLES.get(name, name)} ({len(data.queries)} queries, {len(data.corpus)} documents)\n",
        f"| {'retrieval':<16} | nDCG@10 | recall@100 | MRR@10 |",
        f"| {'-' * 16} | ------- | ---------- | ------ |",
    ]
    for label, s in rows:
        lines.append(
            f"| {label:<16} | {s['ndcg@10']:.4f}  | {s['recall@100']:.4f}     | {s['mrr@10']:.4f} |"
        )
    best = max(s["ndcg@10"] for s in result["singles"].values())
    hybrid = result["fused"]["default"]["ndcg@10"]
    target = TARGETS.get(name)
    if target is not None:
        lines.append(
            f"\ntarget nDCG@10 >= {target:.2f}: {'met' if hybrid >= target else 'NOT met'}; "
            f"hybrid - best single = {hybrid - best:+.4f} (target >= +0.01: "
            f"{'met' if hybrid - best >= 0.01 else 'NOT met'})"
        )
    lines.append("\nPublished / earlier reference figures (nDCG@10):")
    lines += [f"- {label}: {value:.3f}" for label, value in REFERENCES.get(name, [])]
    return "\n".join(lines)


def _dcg(gains: list[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def _reachable_ndcg(qrels: dict[str, int], pair: Lists) -> float:
    """nDCG@10 of the best re-ranking of the union of both candidate lists."""
    found = set(documents(pair.dense)) | set(documents(pair.sparse))
    gains = sorted((g for d, g in qrels.items() if d in found), reverse=True)[:10]
    ideal = sorted(qrels.values(), reverse=True)[:10]
    return _dcg(gains) / _dcg(ideal) if ideal else 0.0


def bound_lines(name: str, result: dict[str, Any]) -> list[str]:
    """Per-query analysis: what any fusion of these two candidate lists can reach."""
    data, pq, lists = result["data"], result["per_query"], result["lists"]
    queries = list(data.queries)
    dense, sparse, hybrid = (pq[k] for k in ("dense", "sparse", "hybrid"))
    oracle = sum(max(dense.get(q, 0.0), sparse.get(q, 0.0)) for q in queries) / len(queries)
    ceiling = sum(_reachable_ndcg(data.qrels[q], lists[q]) for q in queries) / len(queries)
    missing = sum(1 for q in queries if _reachable_ndcg(data.qrels[q], lists[q]) == 0.0)
    both_zero = sum(1 for q in queries if max(dense.get(q, 0.0), sparse.get(q, 0.0)) == 0.0)
    worse = sum(1 for q in queries if hybrid.get(q, 0.0) < max(dense[q], sparse[q]) - 1e-9)
    better = sum(1 for q in queries if hybrid.get(q, 0.0) > max(dense[q], sparse[q]) + 1e-9)
    return [
        f"\nPer-query analysis ({TITLES.get(name, name)}, nDCG@10 per query):",
        f"- per-query oracle choosing the better of dense and sparse: {oracle:.4f}",
        f"- ceiling of any fusion (best order of the union of both lists' documents): "
        f"{ceiling:.4f}",
        f"- queries with no relevant document in either list ({len(lists[queries[0]].dense)} "
        f"chunks each): {missing} of {len(queries)}",
        f"- queries where neither dense nor sparse has a relevant document in its top 10: "
        f"{both_zero}",
        f"- hybrid below the better single list: {worse} queries; above both: {better}",
    ]


def fusion_table(results: dict[str, dict[str, Any]], names: list[str]) -> str:
    """nDCG@10 of every variant on every set, and its margin over the better single list."""
    sets = list(results)
    best = {s: max(v["ndcg@10"] for v in results[s]["singles"].values()) for s in sets}
    head = " | ".join(f"{TITLES.get(s, s)} nDCG@10 | vs best single" for s in sets)
    lines = [
        "\nFusion comparison (hybrid, nDCG@10; margin = hybrid - max(dense, sparse))\n",
        f"| {'fusion':<38} | {head} | min margin |",
        f"| {'-' * 38} |" + " ------- | ------- |" * len(sets) + " ------- |",
    ]
    for variant in names:
        cells, margins = [], []
        for s in sets:
            value = results[s]["fused"][variant]["ndcg@10"]
            margins.append(value - best[s])
            cells.append(f"{value:.4f} | {value - best[s]:+.4f}")
        lines.append(f"| {variant:<38} | {' | '.join(cells)} | {min(margins):+.4f} |")
    return "\n".join(lines)
