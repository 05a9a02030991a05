"""``/v1/answers``' service function: gather the hits, answer, publish ``AnswerCompleted``.

The hits come from :func:`~lectern_gateway.answers.retrieval.prepare` (the caller's
``context``, the search, or both; follow-ups made standalone first). The answer is
written by the LLM when ``LLM_BASE_URL`` is set (``mode: "agent"``: after the searches
it asks for), else (or when it fails) extracted from the hits.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from uuid import uuid4

from lectern.contracts import AnswerCompleted, SearchHit
from lectern.logging import get_logger
from lectern_gateway.answers.agent import Agent
from lectern_gateway.answers.conversation import Turn
from lectern_gateway.answers.extractive import ExtractiveAnswer
from lectern_gateway.answers.llm import LlmClient, Usage, fallback_reason
from lectern_gateway.answers.retrieval import Plan, context_hits, prepare
from lectern_gateway.answers.scoring import extract
from lectern_gateway.auth import request_access
from lectern_gateway.backends import Backends
from lectern_gateway.collections.access import read_collections
from lectern_gateway.schemas import AnswerBody, AnswerResultBody, Citation, TokenUsage

__all__ = ["Draft", "Plan", "answer", "context_hits", "prepare", "record"]

log = get_logger(__name__)


@dataclass
class Draft:
    """An answer before it is recorded: text with ``[n]`` markers and how it was made."""

    text: str
    cited: list[int]
    generator: str
    scorer: str | None = None
    fallback_reason: str | None = None
    dropped_citations: int = 0
    usage: Usage | None = None
    agent_fallback_reason: str | None = None


async def answer(
    backends: Backends,
    llm: LlmClient | None,
    body: AnswerBody,
    request_id: str,
    history: list[Turn] | None = None,
) -> AnswerResultBody:
    """Answer a question from retrieved chunks, or from the caller's own context.

    With an LLM configured it writes the answer (``mode: "agent"``: after its searches);
    when it fails, times out (``LLM_TIMEOUT_S``) or sends something unreadable, the
    extractive answer is returned with ``fallback_reason``. Publishes ``AnswerCompleted``.

    Args:
        backends: the gateway's connections (indexer, session-logger, events).
        llm: the LLM client, or ``None`` (extractive answers).
        body: the request.
        request_id: the HTTP request id (correlation id of every RPC and the event).
        history: earlier turns of the conversation when the caller holds them (chat
            messages); ``None``: the session's are read when ``session_id`` is set.

    Raises:
        ServiceUnavailableError: no context given and the indexer is unavailable (503).
        UpstreamTimeoutError: the search took longer than ``SEARCH_TIMEOUT_S`` (504).
    """
    started = time.perf_counter()
    plan = await prepare(backends, llm, body, request_id, history)
    if body.mode == "agent":
        draft = await agent_draft(backends, llm, body, plan, request_id)
    else:
        draft = await generate(backends, llm, plan.ask, plan.pool.hits, request_id)
    latency_ms = (time.perf_counter() - started) * 1000
    return await record(backends, body, request_id, plan, draft, latency_ms)


def agent_unavailable(llm: LlmClient | None, plan: Plan) -> str | None:
    """Why ``mode: "agent"`` cannot run: ``no_llm``, ``context_replaces_retrieval`` or None."""
    if llm is None:
        return "no_llm"
    return "context_replaces_retrieval" if plan.query is None else None


async def agent_draft(
    backends: Backends, llm: LlmClient | None, body: AnswerBody, plan: Plan, request_id: str
) -> Draft:
    """The agent's answer (its steps join ``plan.steps``); on failure the extractive one."""
    reason = agent_unavailable(llm, plan)
    if reason is not None or llm is None:
        draft = await generate(backends, llm, plan.ask, plan.pool.hits, request_id)
        draft.agent_fallback_reason = reason
        return draft

    async def ignore(*_: object) -> None:
        return None

    scope = (body.top_k, body.filter, body.collections)
    agent = Agent(backends, llm, plan.ask, plan.pool, scope, request_id, ignore, ignore)
    try:
        await agent.run()
    except Exception as exc:
        failed = fallback_reason(exc)
        log.warning("answer.llm_fallback", reason=failed)
        result = await extract(backends, plan.ask, plan.pool.hits, request_id)
        draft = extractive_draft(result, failed)
    else:
        draft = agent_result(agent)
    plan.steps += agent.steps
    draft.agent_fallback_reason = agent.fallback_reason
    return draft


def agent_result(agent: Agent) -> Draft:
    """The draft of a finished :class:`Agent`."""
    cleaner = agent.cleaner
    return Draft(
        text=cleaner.text.strip(),
        cited=sorted(cleaner.cited),
        generator="llm",
        dropped_citations=cleaner.dropped,
        usage=agent.usage,
    )


async def generate(
    backends: Backends,
    llm: LlmClient | None,
    question: str,
    hits: list[SearchHit],
    request_id: str,
) -> Draft:
    """The LLM's answer when one is configured and answers in time, else the extractive one."""
    reason = None
    if llm is not None:
        try:
            async with asyncio.timeout(llm.timeout_s):
                completion = await llm.complete(question, hits)
            return Draft(
                text=completion.text,
                cited=completion.cited,
                generator="llm",
                dropped_citations=completion.dropped_citations,
                usage=completion.usage,
            )
        except Exception as exc:
            reason = fallback_reason(exc)
            log.warning("answer.llm_fallback", reason=reason)
    result = await extract(backends, question, hits, request_id)
    return extractive_draft(result, reason)


def extractive_draft(result: ExtractiveAnswer, reason: str | None) -> Draft:
    """Wrap an extractive answer (``reason``: why the LLM was not used, if it was asked)."""
    return Draft(
        text=result.text,
        cited=result.cited,
        generator="extractive",
        scorer=result.scorer,
        fallback_reason=reason,
    )


def _searched(body: AnswerBody) -> list[str]:
    """The collections an answer read, for its event (``[]``: every collection)."""
    if body.context:
        return []
    return read_collections(body.collections) or []


async def record(
    backends: Backends,
    body: AnswerBody,
    request_id: str,
    plan: Plan,
    draft: Draft,
    latency_ms: float,
) -> AnswerResultBody:
    """Publish ``AnswerCompleted`` for ``draft`` and shape the response body."""
    answer_id = str(uuid4())
    hits = plan.pool.hits
    citations = [Citation(number=n, hit=hits[n - 1]) for n in draft.cited]
    access = request_access()
    search_query = plan.query if plan.query != body.question else None
    await backends.record_event(
        AnswerCompleted(
            correlation_id=request_id,
            session_id=access.session_for(body.session_id),
            principal=access.principal.id,
            question=body.question,
            answer=draft.text,
            latency_ms=latency_ms,
            cited_chunk_ids=[c.hit.chunk_id for c in citations],
            collections=_searched(body),
            answer_id=answer_id,
            generator=draft.generator,
            scorer=draft.scorer,
            fallback_reason=draft.fallback_reason,
            steps=plan.steps,
            search_query=search_query,
        )
    )
    usage = draft.usage
    return AnswerResultBody(
        answer_id=answer_id,
        question=body.question,
        answer=draft.text,
        citations=citations,
        generator=draft.generator,
        scorer=draft.scorer,
        fallback_reason=draft.fallback_reason,
        dropped_citations=draft.dropped_citations,
        usage=None if usage is None else TokenUsage(**vars(usage)),
        query=plan.query,
        conversation=plan.conversation,
        steps=plan.steps,
        agent_fallback_reason=draft.agent_fallback_reason,
        retrieval_fallback_reason=plan.retrieval_fallback_reason,
        latency_ms=round(latency_ms, 2),
        request_id=request_id,
    )
