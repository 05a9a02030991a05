"""``/v1/answers``' service function: gather the hits, answer, publish ``AnswerCompleted``.

Hits come from the indexer's search, or are the caller's own ``context`` passages (the
indexer is then not asked to search, so answers keep working while it is down). The
answer is written by the LLM when ``LLM_BASE_URL`` is set, else (or when it fails)
extracted from the hits.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from uuid import uuid4

from lectern.contracts import AnswerCompleted, SearchHit, SearchRequest, SearchResponse
from lectern.logging import get_logger
from lectern_gateway.answers.extractive import ExtractiveAnswer
from lectern_gateway.answers.llm import LlmClient, Usage, fallback_reason
from lectern_gateway.answers.scoring import extract
from lectern_gateway.auth import request_access
from lectern_gateway.backends import Backends
from lectern_gateway.collections.access import read_collections
from lectern_gateway.schemas import AnswerBody, AnswerResultBody, Citation, TokenUsage

log = get_logger(__name__)


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


async def retrieve(backends: Backends, body: AnswerBody, request_id: str) -> list[SearchHit]:
    """The hits to answer from: the caller's ``context``, else a search.

    Raises:
        ServiceUnavailableError: no context given and the indexer is unavailable (503).
        UpstreamTimeoutError: the search took longer than ``SEARCH_TIMEOUT_S`` (504).
    """
    if body.context:
        return context_hits(body.context)
    request = SearchRequest(
        correlation_id=request_id,
        query=body.question,
        top_k=body.top_k,
        filter=body.filter,
        collections=read_collections(body.collections),
    )
    response = await backends.call(
        "indexer", request, SearchResponse, timeout=backends.settings.search_timeout_s
    )
    return response.hits


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


async def answer(
    backends: Backends, llm: LlmClient | None, body: AnswerBody, request_id: str
) -> AnswerResultBody:
    """Answer a question from retrieved chunks, or from the caller's own context.

    With an LLM configured it writes the answer; when it fails, times out
    (``LLM_TIMEOUT_S``) or sends something unreadable, the extractive answer is returned
    with ``fallback_reason``. Publishes ``AnswerCompleted``.

    Raises:
        ServiceUnavailableError: no context given and the indexer is unavailable (503).
        UpstreamTimeoutError: the search took longer than ``SEARCH_TIMEOUT_S`` (504).
    """
    started = time.perf_counter()
    hits = await retrieve(backends, body, request_id)
    draft = await generate(backends, llm, body.question, hits, request_id)
    latency_ms = (time.perf_counter() - started) * 1000
    return await record(backends, body, request_id, hits, draft, latency_ms)


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
    hits: list[SearchHit],
    draft: Draft,
    latency_ms: float,
) -> AnswerResultBody:
    """Publish ``AnswerCompleted`` for ``draft`` and shape the response body."""
    answer_id = str(uuid4())
    citations = [Citation(number=n, hit=hits[n - 1]) for n in draft.cited]
    access = request_access()
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
        latency_ms=round(latency_ms, 2),
        request_id=request_id,
    )
