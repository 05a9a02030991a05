"""Pure helpers of the harness: re-ingest bodies, the SciFact subset, the answers slot."""

from __future__ import annotations

import pytest
from bench.answer_slot import to_rows
from bench.corpora import Corpus
from bench.eval_sets import EvalSet, subset
from bench.plan import FULL, QUICK, REINGEST_MARK, reingested
from bench.report import Row


def test_reingest_keeps_ids_and_changes_every_version() -> None:
    corpus = Corpus("python311-html", [{"document_id": "python/a.html", "content": "<p>x</p>"}])
    again = reingested(corpus)
    assert again.bodies == [{"document_id": "python/a.html", "content": "<p>x</p>" + REINGEST_MARK}]
    assert corpus.bodies[0]["content"] == "<p>x</p>"


def test_quick_sizes_are_smaller_than_full_ones() -> None:
    assert QUICK.search_requests < FULL.search_requests
    assert QUICK.events < FULL.events
    assert max(QUICK.scale_points) < min(FULL.scale_points)
    assert FULL.scale_points == (10_000, 100_000, 1_000_000)
    assert FULL.events == 100_000


def test_subset_keeps_relevant_documents_and_distractors() -> None:
    data = EvalSet(
        "scifact",
        corpus=[{"_id": str(n)} for n in range(10)],
        queries={"q1": "a", "q2": "b", "q3": "c"},
        qrels={"q1": {"3": 1}, "q2": {"5": 1, "7": 1}, "q3": {"9": 1}},
    )
    small = subset(data, queries=2, distractors=2)
    assert small.name == "scifact-quick-2-2"
    assert small.queries == {"q1": "a", "q2": "b"}
    assert small.qrels == {"q1": {"3": 1}, "q2": {"5": 1, "7": 1}}
    assert [d["_id"] for d in small.corpus] == ["3", "5", "7", "0", "1"]


def test_answer_slot_takes_rows_and_mappings() -> None:
    row = Row("6 answer streaming", "TTFT", 1.0, "ms")
    rows = to_rows([row, {"measure": "overhead", "value": 2, "unit": "ms"}])
    assert rows == [row, Row("6 answer streaming", "overhead", 2.0, "ms")]
    with pytest.raises(TypeError):
        to_rows([3.0])
