"""LLM-written answers through any OpenAI-compatible chat API (the official ``openai`` client).

Ollama, vLLM, llama.cpp's server, OpenAI and Gemini's OpenAI endpoint all speak the
Chat Completions API, so one client (``AsyncOpenAI(base_url=LLM_BASE_URL)``) serves them.
The prompt gives the hits as numbered chunks (title, heading path, text) and asks for
``[n]`` citations, and for "Not in the documents." when the chunks do not support an
answer. Citations are parsed from the reply and mapped back to hits; a number that points
at no chunk is removed from the text and counted (``dropped_citations``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
from litestar import Litestar
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from lectern.contracts import SearchHit
from lectern_gateway.answers.pool import chunk_blocks
from lectern_gateway.settings import GatewaySettings

SYSTEM_PROMPT = (
    "You answer questions using only the numbered context chunks you are given. "
    "Cite every statement with the number of its chunk in square brackets, like [1] or "
    "[2][3]. If the chunks do not contain the answer, reply exactly: Not in the documents."
)
_CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Usage:
    """Token counts reported by the API (zero when it reports none)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class ToolCall:
    """A tool call the model asked for: ``arguments`` is its JSON text, unparsed."""

    id: str
    name: str
    arguments: str = ""


@dataclass
class Completion:
    """A finished LLM reply: ``text`` with only valid ``[n]`` markers left in it.

    Attributes:
        text: the answer text.
        cited: sorted 1-based hit numbers the text cites.
        dropped_citations: markers removed because they named no chunk.
        usage: token counts.
    """

    text: str
    cited: list[int]
    dropped_citations: int
    usage: Usage = field(default_factory=Usage)


def build_messages(
    question: str, hits: Sequence[SearchHit], system: str = SYSTEM_PROMPT
) -> list[ChatCompletionMessageParam]:
    """The chat messages: the system rules, then the numbered chunks and the question.

    Args:
        question: the user's question.
        hits: the chunks, numbered from 1 in the given order.
        system: the system prompt (the agent's one offers the ``search`` tool).

    Returns:
        ``[{"role": "system", ...}, {"role": "user", ...}]``.
    """
    context = chunk_blocks(enumerate(hits, start=1))
    user = f"Context chunks:\n\n{context}\n\nQuestion: {question}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def map_citations(text: str, hit_count: int) -> tuple[str, list[int], int]:
    """Keep the ``[n]`` markers that name a chunk, drop the others.

    Args:
        text: the model's reply.
        hit_count: how many chunks the prompt numbered.

    Returns:
        ``(text, cited, dropped)``: the text without out-of-range markers, the sorted
        valid numbers, and how many markers were dropped.
    """
    cited: set[int] = set()
    dropped = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal dropped
        number = int(match.group(1))
        if 1 <= number <= hit_count:
            cited.add(number)
            return match.group(0)
        dropped += 1
        return ""

    cleaned = _CITATION.sub(keep, text)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), sorted(cited), dropped


class LlmClient:
    """An OpenAI-compatible chat API behind the ``openai`` SDK.

    Args:
        settings: ``LLM_BASE_URL``, ``LLM_MODEL``, ``LLM_API_KEY``, ``LLM_TIMEOUT_S``.
        http_client: an ``httpx.AsyncClient`` to use (tests); default the SDK's own.
    """

    def __init__(self, settings: GatewaySettings, http_client: Any = None) -> None:
        self.model = settings.llm_model
        self.timeout_s = settings.llm_timeout_s
        self._client = AsyncOpenAI(
            base_url=str(settings.llm_base_url),
            api_key=settings.llm_api_key.get_secret_value() or "not-needed",
            timeout=settings.llm_timeout_s,
            max_retries=0,
            http_client=http_client,
        )

    async def stream(
        self, messages: list[ChatCompletionMessageParam], usage: Usage
    ) -> AsyncIterator[str]:
        """Yield the reply's text deltas; fills ``usage`` when the API reports it.

        Closing the iterator (or cancelling its task) closes the HTTP response, so the
        upstream generation stops when our client goes away.

        Raises:
            openai.OpenAIError: connection, timeout, HTTP status or a malformed chunk.
        """
        stream = await self._client.chat.completions.create(
            model=self.model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage.prompt_tokens = chunk.usage.prompt_tokens
                    usage.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta.content:
                        yield choice.delta.content
        finally:
            await stream.close()

    async def tool_round(
        self,
        messages: list[ChatCompletionMessageParam],
        tools: list[ChatCompletionToolParam],
        usage: Usage,
        on_text: Callable[[str], Awaitable[None]],
    ) -> list[ToolCall]:
        """One streamed chat turn with ``tools`` offered.

        Text deltas go to ``on_text`` as they arrive; tool-call deltas are joined by
        their ``index``. Token counts are added to ``usage``.

        Returns:
            The tool calls of the reply (empty when the model answered in text).

        Raises:
            openai.OpenAIError: connection, timeout, HTTP status (e.g. ``400`` from a
                server without tool support) or a malformed chunk.
        """
        stream = await self._client.chat.completions.create(
            model=self.model,
            messages=messages,
            tools=tools,
            stream=True,
            stream_options={"include_usage": True},
        )
        calls: dict[int, ToolCall] = {}
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage.prompt_tokens += chunk.usage.prompt_tokens
                    usage.completion_tokens += chunk.usage.completion_tokens
                for choice in chunk.choices:
                    for part in choice.delta.tool_calls or []:
                        call = calls.setdefault(part.index, ToolCall(id="", name=""))
                        call.id = part.id or call.id
                        if part.function is not None:
                            call.name = call.name or part.function.name or ""
                            call.arguments += part.function.arguments or ""
                    if choice.delta.content:
                        await on_text(choice.delta.content)
        finally:
            await stream.close()
        return [calls[index] for index in sorted(calls)]

    async def complete(self, question: str, hits: Sequence[SearchHit]) -> Completion:
        """Ask for an answer and wait for all of it.

        Raises:
            openai.OpenAIError: the API failed, timed out or sent something unreadable.
            ValueError: the reply was empty.
        """
        usage = Usage()
        parts = [part async for part in self.stream(build_messages(question, hits), usage)]
        text = "".join(parts).strip()
        if not text:
            raise ValueError("the LLM sent an empty reply")
        text, cited, dropped = map_citations(text, len(hits))
        return Completion(text=text, cited=cited, dropped_citations=dropped, usage=usage)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()


def fallback_reason(error: BaseException) -> str:
    """A short, stable reason for falling back to the extractive answer (no exception text).

    Returns:
        ``llm_timeout``, ``llm_unreachable``, ``llm_status_<code>``, ``llm_malformed_reply``
        or ``llm_failed``.
    """
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        return "llm_timeout"
    if isinstance(error, openai.APIConnectionError):
        return "llm_unreachable"
    if isinstance(error, openai.APIStatusError):
        return f"llm_status_{error.status_code}"
    if isinstance(error, openai.APIResponseValidationError | ValueError):
        return "llm_malformed_reply"
    return "llm_failed"


def llm_lifespan(
    settings: GatewaySettings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan that holds the :class:`LlmClient` in ``app.state.llm``.

    ``app.state.llm`` is ``None`` when ``LLM_BASE_URL`` is unset; the client's connection
    pool is closed on shutdown. Nothing connects before the first request.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        client = LlmClient(settings) if settings.llm_base_url is not None else None
        app.state.llm = client
        try:
            yield
        finally:
            if client is not None:
                await client.close()

    return lifespan
