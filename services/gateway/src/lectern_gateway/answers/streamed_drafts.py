"""The LLM's part of a streamed answer: its tokens as they come, then its :class:`Draft`.

Both functions stream text through ``token`` and report failures the same way: a
failure before any text returns an ``extractive`` draft with the reason (the caller
streams the extractive answer instead); one after some text sends an ``error`` event
(``{"reason": ...}``) and keeps the partial answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from lectern.contracts import AnswerStep, SearchHit
from lectern.logging import get_logger
from lectern_gateway.answers.agent import Agent
from lectern_gateway.answers.citations import CitationFilter
from lectern_gateway.answers.llm import LlmClient, Usage, build_messages, fallback_reason
from lectern_gateway.answers.service import Draft, Plan, agent_result
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import AnswerBody

log = get_logger(__name__)

Token = Callable[[str], Awaitable[None]]
Emit = Callable[[str, Any], Awaitable[None]]


async def llm_tokens(
    llm: LlmClient, question: str, hits: list[SearchHit], token: Token, emit: Emit
) -> Draft:
    """Stream the LLM's answer over ``hits``; see the module for failures."""
    usage = Usage()
    cleaner = CitationFilter(len(hits))
    try:
        async with asyncio.timeout(llm.timeout_s):
            async for delta in llm.stream(build_messages(question, hits), usage):
                await token(cleaner.feed(delta))
            await token(cleaner.flush())
        if not cleaner.text.strip():
            raise ValueError("the LLM sent an empty reply")
    except Exception as exc:
        return await _failed(exc, cleaner, usage, emit)
    return Draft(
        text=cleaner.text.strip(),
        cited=sorted(cleaner.cited),
        generator="llm",
        dropped_citations=cleaner.dropped,
        usage=usage,
    )


async def agent_tokens(
    backends: Backends,
    llm: LlmClient,
    body: AnswerBody,
    plan: Plan,
    request_id: str,
    token: Token,
    emit: Emit,
) -> Draft:
    """Run the agent, streaming its text and a ``step`` event per search.

    ``step`` data: the :class:`~lectern.contracts.AnswerStep` fields and ``hits``, the
    step's hits as ``{"number", "hit"}`` (numbers shared by the whole answer). The
    agent's steps are appended to ``plan.steps``.
    """

    async def step(found: AnswerStep, numbered: list[tuple[int, SearchHit]]) -> None:
        hits = [{"number": n, "hit": h.model_dump(mode="json")} for n, h in numbered]
        await emit("step", found.model_dump(mode="json") | {"hits": hits})

    scope = (body.top_k, body.filter, body.collections)
    agent = Agent(backends, llm, plan.ask, plan.pool, scope, request_id, token, step)
    try:
        await agent.run()
        draft = agent_result(agent)
    except Exception as exc:
        draft = await _failed(exc, agent.cleaner, agent.usage, emit)
    plan.steps += agent.steps
    draft.agent_fallback_reason = agent.fallback_reason
    return draft


async def _failed(exc: Exception, cleaner: CitationFilter, usage: Usage, emit: Emit) -> Draft:
    reason = fallback_reason(exc)
    sent = bool(cleaner.text.strip())
    log.warning("answer.llm_stream_failed", reason=reason, partial=sent)
    if not sent:
        return Draft(text="", cited=[], generator="extractive", fallback_reason=reason)
    await emit("error", {"reason": reason})
    return Draft(
        text=cleaner.text,
        cited=sorted(cleaner.cited),
        generator="llm",
        fallback_reason=reason,
        dropped_citations=cleaner.dropped,
        usage=usage,
    )
