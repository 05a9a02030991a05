"""Sentences and their lexical match with a question (pure functions, no I/O).

The lexical signal is BM25's inverse document frequency applied to sentences: each
question term that a sentence contains adds the term's IDF, computed over the candidate
sentences themselves (a term found in every candidate says little, a rare one much),
and the sum is divided by the IDF mass of all question terms, so the score lies in
``[0, 1]``. IDF: Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25
and Beyond", eq. 3.3 (with the ``+1`` inside the logarithm that Lucene uses, so it stays
positive). Terms are lower-cased, stop words dropped, and a light suffix stripping
merges plural and verb forms ("installs", "installed", "installing" -> "install").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+(?:[.+#-][a-z0-9]+)*")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[A-Z0-9`\"'(\[])")
_BLOCK_END = re.compile(r"\n{2,}")
_ABBREVIATION = re.compile(
    r"(?:^|[\s(])(?:[A-Z]|St|Mt|Ft|Mr|Mrs|Ms|Dr|Prof|Jr|Sr|Gen|Col|Lt|Sgt|Capt|Gov|Sen|Rep|"
    r"Rev|Fr|No|Nos|Vol|vs|etc|approx|Inc|Corp|Co|Ltd|Bros|Jan|Feb|Mar|Apr|Jun|Jul|Aug|"
    r"Sep|Sept|Oct|Nov|Dec|e\.g|i\.e|U\.S|U\.K|U\.N|D\.C)\.$"
)
_SUFFIXES = ("ies", "ing", "ed", "es", "s")
_STOP_WORD_TEXT = """
a about after all also an and any are as at be been before being between
both but by can could did do does doing during each for from had has have
having he her his how i if in into is it its me more most my
no not of on one or other our out over own same she should so some
such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with
would you your
"""
STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())


def split_sentences(text: str) -> list[str]:
    """Split chunk text into sentences (blank lines also end one, for code and lists).

    A full stop after a known abbreviation ("St.", "Dr.", "U.S.") or an initial
    ("J. R. R.") does not end a sentence.

    Args:
        text: chunk or passage text.

    Returns:
        The non-empty sentences, stripped, in reading order.
    """
    sentences: list[str] = []
    for block in _BLOCK_END.split(text):
        merged: list[str] = []
        for piece in (p.strip() for p in _SENTENCE_END.split(block)):
            if not piece:
                continue
            if merged and _ABBREVIATION.search(merged[-1]):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        sentences.extend(merged)
    return sentences


def stem(word: str) -> str:
    """Strip one common English inflection (``-s``, ``-es``, ``-ed``, ``-ing``, ``-ies``).

    A deliberately light stemmer: words of four letters or fewer are kept, and the stem
    must keep at least three letters, so "bus" and "news" stay as they are.
    """
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` in order (``gz-jetty`` and ``c++`` stay whole)."""
    return _WORD.findall(text.lower())


def terms(text: str) -> set[str]:
    """The distinct stemmed content terms of ``text`` (lower-cased, no stop words)."""
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS}


def lexical_scores(question: str, sentences: Sequence[str]) -> list[float]:
    """Score each sentence by the IDF-weighted share of question terms it contains.

    Args:
        question: the user's question.
        sentences: the candidate sentences; IDF is computed over them.

    Returns:
        One score in ``[0, 1]`` per sentence, in order; all zeros when the question has
        no content term.
    """
    wanted = terms(question)
    bags = [terms(sentence) for sentence in sentences]
    if not wanted or not bags:
        return [0.0] * len(bags)
    count = len(bags)
    weight = {
        term: math.log(1 + (count - df + 0.5) / (df + 0.5))
        for term in wanted
        for df in [sum(term in bag for bag in bags)]
    }
    total = sum(weight.values())
    return [sum(weight[t] for t in wanted & bag) / total for bag in bags]


def overlap_scores(question: str, sentences: Sequence[str]) -> list[float]:
    """The simple baseline: the share of question terms each sentence contains (unweighted).

    Used by ``bench/eval_answers.py`` as the reference point the ranking must beat.
    """
    wanted = terms(question)
    if not wanted:
        return [0.0] * len(sentences)
    return [len(wanted & terms(sentence)) / len(wanted) for sentence in sentences]
