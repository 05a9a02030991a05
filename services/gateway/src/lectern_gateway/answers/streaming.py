"""Streamed answers: server-sent events for ``POST /v1/answers`` with ``stream: true``.

Events, in order: ``retrieval`` (the hits), ``token`` (``{"text": delta}``, many),
``citations`` (the cited hits and ``dropped_citations``), ``done`` (``answer_id``,
``generator``, ``scorer``, ``fallback_reason``, ``timings`` in ms, ``usage``). An LLM that
fails before its first token is replaced by the extractive answer, streamed sentence by
sentence, so clients have one code path; one that fails mid-answer ends with an ``error``
event (``{"reason": ...}``) before ``done``. While waiting, a comment line
(``: keep-alive``) is sent every :data:`HEARTBEAT_S` seconds. A client that goes away
cancels the producer, which closes the upstream LLM request.

Out-of-range ``[n]`` markers are removed from the token stream as it flows
(:class:`CitationFilter` holds back at most a few characters after a ``[``).
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

from lectern.contracts import SearchHit
from lectern.logging import get_logger
from lectern_gateway.answers.llm import LlmClient, Usage, build_messages, fallback_reason
from lectern_gateway.answers.scoring import extract
from lectern_gateway.answers.service import Draft, extractive_draft, record, retrieve
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import AnswerBody

log = get_logger(__name__)
HEARTBEAT_S = 5.0
_MARKER = re.compile(r"\[(\d{1,3})\]")
_OPEN_MARKER = re.compile(r"\[\d{0,3}$")


class CitationFilter:
    """Removes ``[n]`` markers that name no chunk from a stream of text deltas.

    Args:
        hit_count: how many chunks the prompt numbered.
    """

    def __init__(self, hit_count: int) -> None:
        self.hit_count = hit_count
        self.cited: set[int] = set()
        self.dropped = 0
        self.text = ""
        self._pending = ""

    def feed(self, delta: str) -> str:
        """Take a delta; return the text that can be sent now (maybe empty)."""
        buffered = self._pending + delta
        hold = _OPEN_MARKER.search(buffered)
        ready, self._pending = (
            (buffered[: hold.start()], buffered[hold.start() :]) if hold else (buffered, "")
        )
        return self._clean(ready)

    def flush(self) -> str:
        """The held-back rest at the end of the stream."""
        rest, self._pending = self._pending, ""
        return self._clean(rest)

    def _clean(self, text: str) -> str:
        def keep(match: re.Match[str]) -> str:
            number = int(match.group(1))
            if 1 <= number <= self.hit_count:
                self.cited.add(number)
                return match.group(0)
            self.dropped += 1
            return ""

        cleaned = _MARKER.sub(keep, text)
        self.text += cleaned
        return cleaned


def _event(name: str, data: Any) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=name, data=json.dumps(data, separators=(",", ":")))


async def _produce(
    queue: asyncio.Queue[ServerSentEventMessage | None],
    backends: Backends,
    llm: LlmClient | None,
    body: AnswerBody,
    request_id: str,
    hits: list[SearchHit],
    started: float,
) -> None:
    timings: dict[str, float] = {"retrieval_ms": (time.perf_counter() - started) * 1000}
    await queue.put(_event("retrieval", {"hits": [h.model_dump(mode="json") for h in hits]}))

    async def token(text: str) -> None:
        if text:
            timings.setdefault("first_token_ms", (time.perf_counter() - started) * 1000)
            await queue.put(_event("token", {"text": text}))

    draft = await _llm_tokens(llm, body.question, hits, token, queue) if llm else None
    if draft is None or draft.generator == "extractive":
        reason = draft.fallback_reason if draft else None
        result = await extract(backends, body.question, hits, request_id)
        draft = extractive_draft(result, reason)
        sentences = re.split(r"(?<=\])\s+", draft.text)
        for n, sentence in enumerate(sentences):
            await token(sentence if n == len(sentences) - 1 else sentence + " ")
    timings["total_ms"] = (time.perf_counter() - started) * 1000
    result_body = await record(backends, body, request_id, hits, draft, timings["total_ms"])
    citations = [c.model_dump(mode="json") for c in result_body.citations]
    await queue.put(
        _event("citations", {"citations": citations, "dropped_citations": draft.dropped_citations})
    )
    usage = vars(draft.usage) if draft.usage else None
    done = {
        "answer_id": result_body.answer_id,
        "generator": draft.generator,
        "scorer": draft.scorer,
        "fallback_reason": draft.fallback_reason,
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "usage": usage,
    }
    await queue.put(_event("done", done))


async def _llm_tokens(
    llm: LlmClient,
    question: str,
    hits: list[SearchHit],
    token: Any,
    queue: asyncio.Queue[ServerSentEventMessage | None],
) -> Draft:
    """Stream the LLM's tokens; a failure before any token asks for the extractive answer."""
    usage = Usage()
    cleaner = CitationFilter(len(hits))
    sent = False
    try:
        async with asyncio.timeout(llm.timeout_s):
            async for delta in llm.stream(build_messages(question, hits), usage):
                text = cleaner.feed(delta)
                sent = sent or bool(text.strip())
                await token(text)
            await token(cleaner.flush())
        if not cleaner.text.strip():
            raise ValueError("the LLM sent an empty reply")
    except Exception as exc:
        reason = fallback_reason(exc)
        log.warning("answer.llm_stream_failed", reason=reason, partial=sent)
        if not sent:
            return Draft(text="", cited=[], generator="extractive", fallback_reason=reason)
        await queue.put(_event("error", {"reason": reason}))
        return Draft(
            text=cleaner.text,
            cited=sorted(cleaner.cited),
            generator="llm",
            fallback_reason=reason,
            dropped_citations=cleaner.dropped,
            usage=usage,
        )
    return Draft(
        text=cleaner.text.strip(),
        cited=sorted(cleaner.cited),
        generator="llm",
        dropped_citations=cleaner.dropped,
        usage=usage,
    )


async def events_after_retrieval(
    backends: Backends,
    llm: LlmClient | None,
    body: AnswerBody,
    request_id: str,
    hits: list[SearchHit],
    started: float,
) -> AsyncIterator[ServerSentEventMessage]:
    """The events of one answer whose ``hits`` are known, with heartbeats; see the module.

    Cancelling the iteration (a client that went away) cancels the producer task.
    """
    queue: asyncio.Queue[ServerSentEventMessage | None] = asyncio.Queue()

    async def run() -> None:
        try:
            await _produce(queue, backends, llm, body, request_id, hits, started)
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
    backends: Backends, llm: LlmClient | None, body: AnswerBody, request_id: str
) -> ServerSentEvent:
    """Retrieve (errors still answer a problem response), then stream the answer.

    Raises:
        ServiceUnavailableError: no context given and the indexer is unavailable (503).
        UpstreamTimeoutError: the search took longer than ``SEARCH_TIMEOUT_S`` (504).
    """
    started = time.perf_counter()
    hits = await retrieve(backends, body, request_id)
    return ServerSentEvent(events_after_retrieval(backends, llm, body, request_id, hits, started))
