"""Streamed answers: server-sent events for ``POST /v1/answers`` with ``stream: true``.

Events, in order: ``retrieval`` (``hits``, the ``query`` searched, ``conversation``),
``step`` (agent mode: one per ``search`` tool call, the
:class:`~lectern.contracts.AnswerStep` fields and its numbered ``hits``), ``token``
(``{"text": delta}``, many), ``citations`` (the cited hits and ``dropped_citations``),
``done`` (``answer_id``, ``generator``, ``scorer``, ``fallback_reason``, ``timings`` in
ms, ``usage``, ``steps``, ``agent_fallback_reason``, ``retrieval_fallback_reason``). An LLM that
fails before its first token is replaced by the extractive answer, streamed sentence by
sentence, so clients have one code path; one that fails mid-answer ends with an ``error``
event (``{"reason": ...}``) before ``done``. While waiting, a comment line
(``: keep-alive``) is sent every :data:`HEARTBEAT_S` seconds. A client that goes away
cancels the producer, which closes the upstream LLM request.

Out-of-range ``[n]`` markers are removed from the token stream as it flows
(:class:`~lectern_gateway.answers.citations.CitationFilter`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar.response import ServerSentEvent, ServerSentEventMessage

from lectern.logging import get_logger
from lectern_gateway.answers.conversation import Turn
from lectern_gateway.answers.llm import LlmClient
from lectern_gateway.answers.scoring import extract
from lectern_gateway.answers.service import (
    Plan,
    agent_unavailable,
    extractive_draft,
    prepare,
    record,
)
from lectern_gateway.answers.streamed_drafts import agent_tokens, llm_tokens
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import AnswerBody

log = get_logger(__name__)
HEARTBEAT_S = 5.0


def _event(name: str, data: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=name, data=json.dumps(data, separators=(",", ":")))


async def _produce(
    queue: asyncio.Queue[ServerSentEventMessage | None],
    backends: Backends,
    llm: LlmClient | None,
    body: AnswerBody,
    request_id: str,
    plan: Plan,
    started: float,
) -> None:
    timings: dict[str, float] = {"retrieval_ms": (time.perf_counter() - started) * 1000}
    conversation = plan.conversation.model_dump(mode="json") if plan.conversation else None
    hits = plan.pool.hits
    retrieval = {
        "hits": [h.model_dump(mode="json") for h in hits],
        "query": plan.query,
        "conversation": conversation,
    }
    await queue.put(_event("retrieval", retrieval))

    async def emit(name: str, data: Any) -> None:
        await queue.put(_event(name, data))

    async def token(text: str) -> None:
        if text:
            timings.setdefault("first_token_ms", (time.perf_counter() - started) * 1000)
            await emit("token", {"text": text})

    agent_reason = agent_unavailable(llm, plan) if body.mode == "agent" else None
    draft = None
    if llm is not None and body.mode == "agent" and agent_reason is None:
        draft = await agent_tokens(backends, llm, body, plan, request_id, token, emit)
    elif llm is not None:
        draft = await llm_tokens(llm, plan.ask, hits, token, emit)
    if draft is None or draft.generator == "extractive":
        reason = draft.fallback_reason if draft else None
        agent_reason = agent_reason or (draft.agent_fallback_reason if draft else None)
        result = await extract(backends, plan.ask, hits, request_id)
        draft = extractive_draft(result, reason)
        sentences = re.split(r"(?<=\])\s+", draft.text)
        for n, sentence in enumerate(sentences):
            await token(sentence if n == len(sentences) - 1 else sentence + " ")
    draft.agent_fallback_reason = draft.agent_fallback_reason or agent_reason
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    result_body = await record(backends, body, request_id, plan, draft, timings["total_ms"])
    citations = [c.model_dump(mode="json") for c in result_body.citations]
    await emit("citations", {"citations": citations, "dropped_citations": draft.dropped_citations})
    done = {
        "answer_id": result_body.answer_id,
        "generator": draft.generator,
        "scorer": draft.scorer,
        "fallback_reason": draft.fallback_reason,
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "usage": vars(draft.usage) if draft.usage else None,
        "steps": [step.model_dump(mode="json") for step in plan.steps],
        "agent_fallback_reason": draft.agent_fallback_reason,
        "retrieval_fallback_reason": plan.retrieval_fallback_reason,
    }
    await emit("done", done)


async def events_after_retrieval(
    backends: Backends,
    llm: LlmClient | None,
    body: AnswerBody,
    request_id: str,
    plan: Plan,
    started: float,
) -> AsyncIterator[ServerSentEventMessage]:
    """The events of one answer whose ``plan`` is made, with heartbeats; see the module.

    Cancelling the iteration (a client that went away) cancels the producer task.
    """
    queue: asyncio.Queue[ServerSentEventMessage | None] = asyncio.Queue()

    async def run() -> None:
        try:
            await _produce(queue, backends, llm, body, request_id, plan, started)
        except Exception:
            log.exception("answer.stream_failed")
            await queue.put(_event("error", {"reason": "internal_error"}))
        finally:
            await queue.put(None)

    producer = asyncio.create_task(run())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            if item is None:
                return
            yield item
    finally:
        producer.cancel()
        # Not ``await producer``: a task awaiting another passes every cancel it gets on
        # to it, and the request's cancel scope (anyio, level-triggered) re-cancels this
        # task at each await, which interrupted the producer's cleanup (the ``openai``
        # stream's close) and left the upstream connection open, still generating.
        # ``asyncio.wait`` does not forward cancels: the producer gets exactly one.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({producer})


def wants_stream(body: AnswerBody, accept: str | None) -> bool:
    """``stream: true`` in the body, or ``Accept: text/event-stream``."""
    return body.stream or "text/event-stream" in (accept or "")


async def stream_answer(
    backends: Backends,
    llm: LlmClient | None,
    body: AnswerBody,
    request_id: str,
    history: list[Turn] | None = None,
) -> ServerSentEvent:
    """Prepare (errors still answer a problem response), then stream the answer.

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
    return ServerSentEvent(events_after_retrieval(backends, llm, body, request_id, plan, started))
