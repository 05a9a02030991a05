"""Agentic answers (``mode: "agent"``): the LLM may call a ``search`` tool before it answers.

The model starts with the question's own retrieval (numbered chunks, as in a plain LLM
answer) and the :data:`SEARCH_TOOL`. Each tool call is a normal search through the
indexer; its chunks join the answer's :class:`~lectern_gateway.answers.pool.HitPool`
(one numbering over all steps) and go back to the model as a tool message. After
``AGENT_MAX_STEPS`` tool rounds the tools are withdrawn: the model is asked once more,
without tools, to answer from every chunk gathered. A server that refuses ``tools`` (an
HTTP error on the first round) or a first reply with neither tool calls nor text means
the model cannot use tools: it answers, without tools, from the question's retrieval
(``fallback_reason``: ``tools_refused_<status>`` or ``no_tool_calls``).

Text the model writes in any round is streamed as it comes (``on_token``) and is part of
the answer, so the streamed and the JSON answer are the same text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessageParam

from lectern.contracts import AnswerStep, MetadataFilter, SearchHit
from lectern.logging import get_logger
from lectern_gateway.answers.citations import CitationFilter
from lectern_gateway.answers.llm import SYSTEM_PROMPT, LlmClient, ToolCall, Usage, build_messages
from lectern_gateway.answers.pool import HitPool, chunk_blocks
from lectern_gateway.answers.search_tool import (
    SEARCH_TOOL,
    parse_search_arguments,
    run_search,
    search_request,
)
from lectern_gateway.backends import Backends
from lectern_gateway.errors import ForbiddenError

log = get_logger(__name__)

AGENT_PROMPT = (
    SYSTEM_PROMPT + " When the chunks you have do not answer the question, call the search "
    "tool with a better query first; its results are numbered chunks you can cite."
)
MAX_CALLS_PER_ROUND = 3
"""Tool calls run per round; the model is told that further ones were not run."""
OnToken = Callable[[str], Awaitable[None]]
OnStep = Callable[[AnswerStep, list[tuple[int, SearchHit]]], Awaitable[None]]


class Agent:
    """One agentic answer: tool rounds, then the answer (see the module).

    Args:
        backends: the indexer RPC and settings (``AGENT_MAX_STEPS``, ``SEARCH_TIMEOUT_S``).
        llm: the chat API.
        question: the (standalone) question.
        pool: the chunks so far (context, the question's retrieval); grows with each step.
        scope: ``(top_k, filter, collections)`` of the request; its filter, when set,
            replaces the model's, so the agent never reads outside what the caller asked.
        request_id: the correlation id of every search.
        on_token: receives each text delta (citations already filtered).
        on_step: receives each tool step and its numbered hits.
    """

    def __init__(
        self,
        backends: Backends,
        llm: LlmClient,
        question: str,
        pool: HitPool,
        scope: tuple[int, MetadataFilter | None, list[str] | None],
        request_id: str,
        on_token: OnToken,
        on_step: OnStep,
    ) -> None:
        self.backends, self.llm, self.question, self.pool = backends, llm, question, pool
        self.scope, self.request_id = scope, request_id
        self.on_token, self.on_step = on_token, on_step
        self.steps: list[AnswerStep] = []
        self.cleaner = CitationFilter(len(pool))
        self.usage = Usage()
        self.fallback_reason: str | None = None

    async def run(self) -> None:
        """Answer; the text is in ``self.cleaner`` (``text``, ``cited``, ``dropped``).

        Raises:
            openai.OpenAIError, TimeoutError: the LLM failed (``LLM_TIMEOUT_S`` per call).
            ValueError: the final reply was empty.
        """
        messages = build_messages(self.question, self.pool.hits, AGENT_PROMPT)
        for round_number in range(self.backends.settings.agent_max_steps):
            before = len(self.cleaner.text)
            try:
                async with asyncio.timeout(self.llm.timeout_s):
                    calls = await self.llm.tool_round(
                        messages, [SEARCH_TOOL], self.usage, self._text
                    )
            except openai.APIStatusError as exc:
                if round_number > 0 or self.cleaner.text:
                    raise
                self.fallback_reason = f"tools_refused_{exc.status_code}"
                break
            if not calls:
                await self._flush()
                if self.cleaner.text[before:].strip():
                    return  # answered in this round (earlier rounds' text may lead it)
                self.fallback_reason = None if round_number else "no_tool_calls"
                break
            messages += await self._tool_messages(calls, self.cleaner.text[before:])
        if self.fallback_reason:
            log.warning("answer.agent_fallback", reason=self.fallback_reason)
        await self._final()

    async def _final(self) -> None:
        """The answer without tools, from every chunk gathered."""
        usage = Usage()
        async with asyncio.timeout(self.llm.timeout_s):
            async for delta in self.llm.stream(
                build_messages(self.question, self.pool.hits), usage
            ):
                await self._text(delta)
        self.usage.prompt_tokens += usage.prompt_tokens
        self.usage.completion_tokens += usage.completion_tokens
        await self._flush()
        if not self.cleaner.text.strip():
            raise ValueError("the LLM sent an empty reply")

    async def _text(self, delta: str) -> None:
        text = self.cleaner.feed(delta)
        if text:
            await self.on_token(text)

    async def _flush(self) -> None:
        text = self.cleaner.flush()
        if text:
            await self.on_token(text)

    async def _tool_messages(
        self, calls: list[ToolCall], text: str
    ) -> list[ChatCompletionMessageParam]:
        """The assistant's tool calls and one tool reply per call."""
        requested: list[Any] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
        replies: list[ChatCompletionMessageParam] = [
            {"role": "assistant", "content": text or None, "tool_calls": requested}
        ]
        for n, call in enumerate(calls):
            if n >= MAX_CALLS_PER_ROUND:
                content = f"Not run: at most {MAX_CALLS_PER_ROUND} searches per turn."
            elif call.name != "search":
                content = "Unknown tool: the only tool is search."
            else:
                content = await self._search(call.arguments)
            replies.append({"role": "tool", "tool_call_id": call.id, "content": content})
        return replies

    async def _search(self, arguments: str) -> str:
        """Run one ``search`` call; return its numbered chunks as the tool reply."""
        top_k, scope_filter, scope_collections = self.scope
        try:
            query, tool_filter, collections = parse_search_arguments(arguments)
        except ValueError as exc:
            self.steps.append(AnswerStep(query="", error="invalid_arguments"))
            return f"Invalid arguments: {exc}."
        try:
            request = search_request(
                self.request_id,
                query,
                top_k,
                scope_filter or tool_filter,
                scope_collections or collections,
            )
        except ForbiddenError:
            self.steps.append(AnswerStep(query=query, error="forbidden_collection"))
            return "The search failed: this caller may not read those collections."
        hits, step = await run_search(self.backends, request)
        step.collections = scope_collections or collections
        numbered = list(zip(self.pool.add(hits), hits, strict=True))
        self.cleaner.hit_count = len(self.pool)
        self.steps.append(step)
        await self.on_step(step, numbered)
        if step.error:
            return f"The search failed ({step.error})."
        return chunk_blocks(numbered) if numbered else "No chunks matched."
