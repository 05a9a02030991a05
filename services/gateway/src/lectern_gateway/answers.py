"""Extractive answers: the sentences of the retrieved chunks that best match the question.

Without an LLM, an answer is built from the retrieved text itself, so every sentence is
grounded and cited: each chunk is split into sentences, each sentence is scored by the
share of the question's content words it contains (a lexical overlap score, the
baseline of extractive QA and summarisation, e.g. Luhn 1958), weighted by the rank of
its chunk, and the best sentences are returned in reading order with numbered citations
``[n]`` pointing at the chunks.
"""

from __future__ import annotations

import re
import time

from lectern.contracts import AnswerCompleted, SearchHit, SearchRequest, SearchResponse
from lectern_gateway.auth import request_access
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import AnswerBody, AnswerResultBody, Citation

MAX_SENTENCES = 3
_WORD = re.compile(r"[a-z0-9][a-z0-9_+.-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`])|\n{2,}")
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
        "my",
        "me",
        "we",
    ]
)


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` without stop words."""
    return {word.strip(".-") for word in _WORD.findall(text.lower())} - STOP_WORDS


def split_sentences(text: str) -> list[str]:
    """Split chunk text into sentences (or blocks, for code and lists)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def extract_answer(question: str, hits: list[SearchHit]) -> tuple[str, list[int]]:
    """Pick up to :data:`MAX_SENTENCES` sentences that answer ``question``.

    Args:
        question: the user's question.
        hits: retrieved chunks, best first.

    Returns:
        ``(answer, cited)``: the answer with ``[n]`` markers (``n`` 1-based into
        ``hits``) and the sorted hit numbers it cites. Empty when nothing overlaps.
    """
    wanted = content_words(question)
    if not wanted:
        return "", []
    scored: list[tuple[float, int, int, str]] = []
    for rank, hit in enumerate(hits):
        for position, sentence in enumerate(split_sentences(hit.text)):
            overlap = len(wanted & content_words(sentence)) / len(wanted)
            if overlap > 0:
                scored.append((overlap / (1 + 0.2 * rank), rank, position, sentence))
    best = sorted(scored, key=lambda item: -item[0])[:MAX_SENTENCES]
    best.sort(key=lambda item: (item[1], item[2]))
    answer = " ".join(f"{sentence} [{rank + 1}]" for _, rank, _, sentence in best)
    return answer, sorted({rank + 1 for _, rank, _, _ in best})


async def answer(backends: Backends, body: AnswerBody, request_id: str) -> AnswerResultBody:
    """Answer a question from retrieved chunks, or from the caller's own context.

    With ``body.context`` the indexer is not asked, so answers keep working while it is
    down. Publishes ``AnswerCompleted``.

    Raises:
        ServiceUnavailableError: no context given and the indexer is unavailable (503).
        UpstreamTimeoutError: the search took longer than ``SEARCH_TIMEOUT_S`` (504).
    """
    started = time.perf_counter()
    if body.context:
        hits = [
            SearchHit(
                chunk_id=f"context-{n}",
                document_id="context",
                title="caller context",
                source=None,
                heading_path=[],
                text=text,
                score=0.0,
            )
            for n, text in enumerate(body.context, start=1)
        ]
    else:
        request = SearchRequest(
            correlation_id=request_id,
            query=body.question,
            top_k=body.top_k,
            filter=body.filter,
        )
        response = await backends.call(
            "indexer", request, SearchResponse, timeout=backends.settings.search_timeout_s
        )
        hits = response.hits
    text, cited = extract_answer(body.question, hits)
    latency_ms = (time.perf_counter() - started) * 1000
    citations = [Citation(number=n, hit=hits[n - 1]) for n in cited]
    access = request_access()
    await backends.record_event(
        AnswerCompleted(
            correlation_id=request_id,
            session_id=access.session_for(body.session_id),
            principal=access.principal.id,
            question=body.question,
            answer=text,
            latency_ms=latency_ms,
            cited_chunk_ids=[c.hit.chunk_id for c in citations],
        )
    )
    return AnswerResultBody(
        question=body.question,
        answer=text,
        citations=citations,
        latency_ms=round(latency_ms, 2),
        request_id=request_id,
    )
