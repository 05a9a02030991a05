"""What an answer works from: the query (a follow-up made standalone) and its numbered hits.

The caller's ``context`` either replaces retrieval (``context_mode: "replace"``, the
default: no search and no session read, so it answers while the indexer is down) or
comes first, numbered ``1..k``, before the retrieved chunks (``"augment"``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lectern.contracts import AnswerStep, SearchHit, SearchResponse
from lectern_gateway.answers.conversation import Turn, session_turns, standalone_query
from lectern_gateway.answers.llm import LlmClient
from lectern_gateway.answers.pool import HitPool
from lectern_gateway.answers.search_tool import search_request
from lectern_gateway.backends import Backends
from lectern_gateway.errors import ServiceUnavailableError, UpstreamTimeoutError
from lectern_gateway.schemas import AnswerBody, ConversationBody


def context_hits(passages: list[str]) -> list[SearchHit]:
    """Turn the caller's passages into hits numbered in the order given."""
    return [
        SearchHit(
            chunk_id=f"context-{n}",
            document_id="context",
            title="caller context",
            source=None,
            heading_path=[],
            text=text,
            score=0.0,
        )
        for n, text in enumerate(passages, start=1)
    ]


@dataclass
class Plan:
    """What one answer works from, before anything is written.

    Attributes:
        ask: the question to answer (the standalone query of a follow-up).
        query: what was searched; ``None`` when ``context`` replaced retrieval.
        pool: the numbered chunks (context first, then the retrieved ones).
        conversation: how earlier turns were used (``None`` outside a conversation).
        steps: the question's retrieval as the first agent step (agent mode only).
        retrieval_fallback_reason: why ``augment`` answered from the context alone.
    """

    ask: str
    query: str | None
    pool: HitPool
    conversation: ConversationBody | None = None
    steps: list[AnswerStep] = field(default_factory=list)
    retrieval_fallback_reason: str | None = None


async def prepare(
    backends: Backends,
    llm: LlmClient | None,
    body: AnswerBody,
    request_id: str,
    history: list[Turn] | None = None,
) -> Plan:
    """Resolve the query (follow-ups made standalone) and gather the hits to answer from.

    ``context`` with ``context_mode: "replace"`` is the only source (no search, no
    session read); with ``"augment"`` it comes first and the search follows (an
    unavailable indexer then leaves the context alone, with a reason). ``history``: the
    earlier turns when the caller has them (chat messages); else the session's are read.

    Raises:
        ServiceUnavailableError: no context given and the indexer is unavailable (503).
        UpstreamTimeoutError: the search took longer than ``SEARCH_TIMEOUT_S`` (504).
    """
    pool = HitPool(context_hits(body.context or []))
    if body.context and body.context_mode == "replace":
        return Plan(ask=body.question, query=None, pool=pool)
    conversation = None
    query = body.question
    if history is not None or body.session_id is not None:
        turns, reason = (
            (history, None)
            if history is not None
            else await session_turns(backends, str(body.session_id), request_id)
        )
        query, conversation = await standalone_query(llm, body.question, turns, reason)
    plan = Plan(ask=query, query=query, pool=pool, conversation=conversation)
    request = search_request(request_id, query, body.top_k, body.filter, body.collections)
    started = time.perf_counter()
    try:
        reply = await backends.call(
            "indexer", request, SearchResponse, timeout=backends.settings.search_timeout_s
        )
    except (ServiceUnavailableError, UpstreamTimeoutError) as exc:
        if not body.context:
            raise
        plan.retrieval_fallback_reason = (
            "indexer_timeout" if isinstance(exc, UpstreamTimeoutError) else "indexer_unavailable"
        )
        return plan
    pool.add(reply.hits)
    if body.mode == "agent":
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        chunk_ids = [h.chunk_id for h in reply.hits]
        plan.steps.append(
            AnswerStep(
                origin="question",
                query=query,
                filter=request.filter,
                chunk_ids=chunk_ids,
                latency_ms=latency_ms,
            )
        )
    return plan
