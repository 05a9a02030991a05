"""Extractive answers: sentence splitting, lexical and combined ranking, composition."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from lectern.contracts import SearchHit
from lectern_gateway.answers import extractive
from lectern_gateway.answers.sentences import (
    lexical_scores,
    overlap_scores,
    split_sentences,
    stem,
    terms,
)


def _hit(text: str, n: int = 1) -> SearchHit:
    return SearchHit(
        chunk_id=f"c{n}",
        document_id=f"d{n}",
        title="t",
        source=None,
        heading_path=[],
        text=text,
        score=0.0,
    )


def test_split_sentences_keeps_reading_order():
    text = "Gazebo runs on macOS. Install it with brew.\n\nThen run gz sim! Done?"
    assert split_sentences(text) == [
        "Gazebo runs on macOS.",
        "Install it with brew.",
        "Then run gz sim!",
        "Done?",
    ]


def test_stem_merges_inflections_but_keeps_short_words():
    assert {stem(w) for w in ("installs", "installed", "installing", "install")} == {"install"}
    assert stem("bus") == "bus"
    assert stem("news") == "news"
    assert stem("libraries") == "library"
    assert terms("How do I install the Gazebo?") == {"install", "gazebo"}


def test_rare_question_terms_weigh_more_than_common_ones():
    sentences = [
        "Gazebo is a simulator.",
        "Gazebo runs on Ubuntu.",
        "Gazebo installs with Homebrew on macOS.",
    ]
    scores = lexical_scores("How do I install Gazebo on macOS?", sentences)
    assert scores[2] == max(scores)
    assert scores[0] == scores[1] < scores[2]
    # Unweighted overlap cannot tell the common term from the rare ones so well.
    assert overlap_scores("Gazebo macOS", sentences) == [0.5, 0.5, 1.0]


@given(
    st.text(min_size=1, max_size=80),
    st.lists(st.text(max_size=120), min_size=1, max_size=12),
)
def test_lexical_scores_lie_in_the_unit_interval(question: str, sentences: list[str]):
    scores = lexical_scores(question, sentences)
    assert len(scores) == len(sentences)
    assert all(0.0 <= s <= 1.0 + 1e-9 for s in scores)


def test_sentence_with_every_question_term_scores_one():
    assert lexical_scores("gazebo macos", ["Gazebo on macOS.", "Other."])[0] == 1.0


def test_dense_scores_change_the_ranking():
    hits = [_hit("Cats sleep a lot. Cats are felines that rumble when content.")]
    found = extractive.candidates("Why do cats purr?", hits)
    lexical_only, scorer = extractive.rank("Why do cats purr?", found, None)
    assert scorer == "lexical"
    assert [r.candidate.position for r in lexical_only] == [0, 1]
    combined, scorer = extractive.rank("Why do cats purr?", found, [0.1, 0.9])
    assert scorer == "dense+lexical"
    assert [r.candidate.position for r in combined] == [1, 0]


def test_compose_prints_the_best_sentences_in_reading_order_with_citations():
    hits = [_hit("Alpha beta. Gamma delta.", 1), _hit("Beta gamma. Unrelated words here.", 2)]
    found = extractive.candidates("beta gamma", hits)
    ranked, scorer = extractive.rank("beta gamma", found, None)
    answer = extractive.compose(ranked, scorer)
    assert answer.ranked[0].candidate.text == "Beta gamma."
    assert answer.text == "Alpha beta. [1] Gamma delta. [1] Beta gamma. [2]"
    assert answer.cited == [1, 2]


def test_nothing_above_the_threshold_is_not_in_the_documents():
    found = extractive.candidates("quantum chromodynamics", [_hit("Bread needs flour.")])
    ranked, scorer = extractive.rank("quantum chromodynamics", found, [0.05])
    answer = extractive.compose(ranked, scorer)
    assert answer.text == extractive.NOT_IN_DOCUMENTS
    assert answer.cited == []


def test_candidates_are_bounded_keeping_the_best_lexical_matches():
    filler = " ".join(f"Filler sentence number {n}." for n in range(400))
    hits = [_hit(filler + " The answer mentions zebras."), _hit("Zebras have stripes.", 2)]
    found = extractive.candidates("zebras", hits)
    assert len(found) == extractive.MAX_CANDIDATES
    texts = [c.text for c in found]
    assert "The answer mentions zebras." in texts
    assert "Zebras have stripes." in texts
    assert [(c.hit, c.position) for c in found] == sorted((c.hit, c.position) for c in found)


def test_ranking_runs_in_a_worker_thread(monkeypatch):
    import asyncio

    from lectern_gateway.answers import scoring

    threads: list[threading.Thread] = []
    real_rank = scoring.rank

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return real_rank(*args, **kwargs)

    monkeypatch.setattr(scoring, "rank", spy)

    class NoIndexer:
        class settings:
            answer_score_timeout_s = 1.0

        async def call(self, *args: object, **kwargs: object) -> object:
            from lectern_gateway.errors import ServiceUnavailableError

            raise ServiceUnavailableError("the indexer is not running")

    result = asyncio.run(scoring.extract(NoIndexer(), "zebras", [_hit("Zebras.")], "r1"))  # type: ignore[arg-type]
    assert result.scorer == "lexical"
    assert threads
    assert threads[0] is not threading.main_thread()
