"""Extractive answers: rank the sentences of the hits and compose a cited answer.

Pure functions, no I/O (the dense scores come from the indexer, see
:mod:`lectern_gateway.answers.scoring`). Each sentence's score combines:

- **meaning**: the cosine of its embedding with the question's (all-MiniLM-L6-v2), and
- **shared words**: :func:`~lectern_gateway.answers.sentences.lexical_scores`, the
  IDF-weighted share of question terms it contains.

``score = DENSE_WEIGHT * cosine + (1 - DENSE_WEIGHT) * lexical``, then divided by
``1 + RANK_DECAY * rank`` of its hit so that, between equal sentences, the better hit
wins. Why both: on SQuAD the two signals err on different questions (the cosine
rewards paraphrase, but also sentences that merely restate the topic; shared words
find the clause a question was written from, but miss paraphrase), and their sum
ranks the right sentence first more often than either: in reader mode 85.6 % against
81.7 % (IDF lexical) and 80.9 % (cosine) on the 1,000 questions of ``make
eval-answers``. The constants were chosen by a coarse sweep on that same set
(``DENSE_WEIGHT`` 0.3-0.5 all land within 0.5 point; min-max normalising the two
signals, question bigrams, a length prior and carrying a pronoun's score back to the
previous sentence did not help). The thresholds leave 0.2 % of SQuAD questions
unanswered while a question sharing no word and little meaning with the text
(cosine under 0.37) gets :data:`NOT_IN_DOCUMENTS`.

The best :data:`MAX_SENTENCES` are printed in reading order, each followed by ``[n]``
(``n`` the 1-based hit number); when no sentence reaches the scorer's threshold the
answer is :data:`NOT_IN_DOCUMENTS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lectern.contracts import SearchHit
from lectern_gateway.answers.sentences import lexical_scores, split_sentences

Scorer = Literal["dense+lexical", "lexical"]
MAX_SENTENCES = 3
MAX_CANDIDATES = 256
"""Sentences scored per answer at most (the indexer's RPC limit); see :func:`candidates`."""
MAX_SENTENCE_CHARS = 2000
DENSE_WEIGHT = 0.4
RANK_DECAY = 0.1
"""Down-weighting of later hits (open mode); 0.1 is a round value, not tuned."""
THRESHOLDS: dict[Scorer, float] = {"dense+lexical": 0.15, "lexical": 0.05}
"""Best-sentence score below which the answer is :data:`NOT_IN_DOCUMENTS`."""
SUPPORT_FLOORS: dict[Scorer, float] = {"dense+lexical": 0.08, "lexical": 0.05}
"""Score a sentence after the first needs to be part of the answer."""
NOT_IN_DOCUMENTS = "Not in the documents."


@dataclass(frozen=True)
class Candidate:
    """A sentence of a hit: ``hit`` is the 0-based hit index, ``position`` its place in it."""

    hit: int
    position: int
    text: str


@dataclass(frozen=True)
class RankedSentence:
    """A candidate with its combined score (higher is better)."""

    candidate: Candidate
    score: float


@dataclass(frozen=True)
class ExtractiveAnswer:
    """A composed answer.

    Attributes:
        text: sentences in reading order with ``[n]`` markers, or
            :data:`NOT_IN_DOCUMENTS`.
        cited: sorted 1-based hit numbers the text cites.
        ranked: the chosen sentences, best first (``ranked[0]`` is the top sentence).
        scorer: which signals ranked them.
    """

    text: str
    cited: list[int]
    ranked: list[RankedSentence]
    scorer: Scorer


def candidates(question: str, hits: Sequence[SearchHit]) -> list[Candidate]:
    """Split the hits into sentences, at most :data:`MAX_CANDIDATES` of them.

    When the hits hold more sentences than that (a long caller context), the ones with
    the best lexical scores are kept, ties in reading order.

    Args:
        question: the user's question.
        hits: retrieved chunks (or caller passages), best first.

    Returns:
        Candidates in reading order; each text is cut at :data:`MAX_SENTENCE_CHARS`.
    """
    found = [
        Candidate(hit=rank, position=position, text=sentence[:MAX_SENTENCE_CHARS])
        for rank, hit in enumerate(hits)
        for position, sentence in enumerate(split_sentences(hit.text))
    ]
    if len(found) <= MAX_CANDIDATES:
        return found
    lexical = lexical_scores(question, [c.text for c in found])
    order = sorted(range(len(found)), key=lambda i: -lexical[i])[:MAX_CANDIDATES]
    return [found[i] for i in sorted(order)]


def rank(
    question: str, found: Sequence[Candidate], dense: Sequence[float] | None
) -> tuple[list[RankedSentence], Scorer]:
    """Score every candidate and sort best first.

    Args:
        question: the user's question.
        found: the candidates.
        dense: cosine per candidate from the indexer, or ``None`` (lexical only).

    Returns:
        ``(ranked, scorer)``: candidates best first, and which signals scored them.
    """
    lexical = lexical_scores(question, [c.text for c in found])
    scorer: Scorer = "lexical"
    combined = lexical
    if dense is not None:
        combined = [
            DENSE_WEIGHT * d + (1 - DENSE_WEIGHT) * x for d, x in zip(dense, lexical, strict=True)
        ]
        scorer = "dense+lexical"
    ranked = [
        RankedSentence(candidate=c, score=score / (1 + RANK_DECAY * c.hit))
        for c, score in zip(found, combined, strict=True)
    ]
    ranked.sort(key=lambda r: (-r.score, r.candidate.hit, r.candidate.position))
    return ranked, scorer


def compose(ranked: Sequence[RankedSentence], scorer: Scorer) -> ExtractiveAnswer:
    """Print the best :data:`MAX_SENTENCES` in reading order, each cited ``[n]``.

    Sentences after the first must reach the scorer's support floor.

    Returns:
        The answer; :data:`NOT_IN_DOCUMENTS` with no citation when the best score is
        under the scorer's threshold (or there is no candidate).
    """
    if not ranked or ranked[0].score < THRESHOLDS[scorer]:
        return ExtractiveAnswer(text=NOT_IN_DOCUMENTS, cited=[], ranked=[], scorer=scorer)
    floor = SUPPORT_FLOORS[scorer]
    best = [ranked[0], *(r for r in ranked[1:MAX_SENTENCES] if r.score >= floor)]
    shown = sorted(best, key=lambda r: (r.candidate.hit, r.candidate.position))
    text = " ".join(f"{r.candidate.text} [{r.candidate.hit + 1}]" for r in shown)
    cited = sorted({r.candidate.hit + 1 for r in best})
    return ExtractiveAnswer(text=text, cited=cited, ranked=best, scorer=scorer)
