"""Rank candidate sentences: dense scores from the indexer, lexical ones as the fallback.

The indexer owns the embedding model, so the gateway sends it the question and the
candidate sentences (``SentenceScoreRequest``) and combines the cosines it answers with
the lexical signal. When the indexer is down, slow or answers an error, the sentences
are ranked on the lexical signal alone (``scorer: "lexical"``), so answers from the
caller's ``context`` keep working without it. The CPU-bound work (splitting, scoring)
runs in a worker thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lectern.contracts import SearchHit, SentenceScoreRequest, SentenceScoreResponse
from lectern.logging import get_logger
from lectern_gateway.answers.extractive import ExtractiveAnswer, candidates, compose, rank
from lectern_gateway.backends import Backends
from lectern_gateway.errors import GatewayError

log = get_logger(__name__)


async def extract(
    backends: Backends, question: str, hits: Sequence[SearchHit], request_id: str
) -> ExtractiveAnswer:
    """Build the extractive answer to ``question`` from ``hits``.

    Args:
        backends: the gateway's connections (the indexer RPC).
        question: the user's question.
        hits: retrieved chunks or caller passages, best first.
        request_id: the HTTP request id (correlation id of the RPC).

    Returns:
        The composed answer; ``scorer`` says whether dense scores were used.
    """
    found = await asyncio.to_thread(candidates, question, hits)
    dense = await dense_scores(backends, question, [c.text for c in found], request_id)
    ranked, scorer = await asyncio.to_thread(rank, question, found, dense)
    return compose(ranked, scorer)


async def dense_scores(
    backends: Backends, question: str, sentences: list[str], request_id: str
) -> list[float] | None:
    """Ask the indexer for each sentence's cosine with ``question``.

    Returns:
        The cosines in order, or ``None`` when there is nothing to score or the indexer
        cannot answer within ``ANSWER_SCORE_TIMEOUT_S`` (logged, never raised).
    """
    if not sentences:
        return None
    request = SentenceScoreRequest(
        correlation_id=request_id, question=question, sentences=sentences
    )
    try:
        reply = await backends.call(
            "indexer",
            request,
            SentenceScoreResponse,
            timeout=backends.settings.answer_score_timeout_s,
        )
    except GatewayError as exc:
        log.warning("answer.dense_scores_unavailable", reason=type(exc).__name__)
        return None
    if len(reply.scores) != len(sentences):
        log.warning("answer.dense_scores_mismatch", sent=len(sentences), got=len(reply.scores))
        return None
    return reply.scores
