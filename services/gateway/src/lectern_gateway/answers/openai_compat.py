"""OpenAI-compatible surface: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Existing OpenAI clients point their base URL at Lectern and use model ``lectern`` (every
collection the key may read) or ``lectern/<collection>`` (that collection only). The
last user message is the question; the earlier user/assistant messages are the
conversation (a follow-up is made standalone before retrieval, see
:mod:`lectern_gateway.answers.conversation`).
The reply is a ``chat.completion`` (or, with ``stream: true``, ``chat.completion.chunk``
server-sent events ending in ``data: [DONE]``) whose text carries ``[n]`` markers.

Extension: the cited sources travel in ``choices[0].message.sources`` (non-streamed) or
``choices[0].delta.sources`` of the final chunk (streamed), a list of
``{"number", "hit"}`` objects as in ``/v1/answers``; clients that do not know the field
ignore it (the official SDKs keep it in ``model_extra``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from litestar.response import Response, ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK
from pydantic import BaseModel, ConfigDict, Field

from lectern_gateway.answers import service
from lectern_gateway.answers.controllers import provide_llm
from lectern_gateway.answers.conversation import Turn, message_turns
from lectern_gateway.answers.llm import LlmClient
from lectern_gateway.answers.streaming import events_after_retrieval
from lectern_gateway.backends import Backends
from lectern_gateway.collections import service as collections
from lectern_gateway.errors import InvalidInputError, ServiceUnavailableError, UpstreamTimeoutError
from lectern_gateway.schemas import NOT_BLANK, AnswerBody

MODEL_ID = "lectern"
COLLECTION_MODEL = re.compile(r"^lectern/([a-z0-9][a-z0-9_-]{0,62})$")
"""``lectern/<collection>``: answer from that collection only."""


USER_MESSAGE_WITH_TEXT: dict[str, Any] = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"const": "user"},
        "content": {"type": "string", "pattern": NOT_BLANK},
    },
}
"""JSON Schema ``contains`` of ``messages``: at least one user message with text."""


class ChatMessage(BaseModel):
    """One chat message (``content`` as text)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | None = Field(default=None, max_length=4096)


class ChatCompletionBody(BaseModel):
    """``POST /v1/chat/completions``; unknown OpenAI parameters are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(default=MODEL_ID, max_length=256)
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=100,
        description="the conversation; its last user message with text is the question",
        json_schema_extra={"contains": USER_MESSAGE_WITH_TEXT},
    )
    stream: bool = False


def _question(body: ChatCompletionBody) -> AnswerBody:
    scoped = COLLECTION_MODEL.match(body.model)
    if scoped is None and body.model.startswith(f"{MODEL_ID}/"):
        raise InvalidInputError(f"model {body.model!r} names no valid collection")
    collections = [scoped.group(1)] if scoped else None
    for message in reversed(body.messages):
        if message.role == "user" and message.content and message.content.strip():
            return AnswerBody(question=message.content, collections=collections)
    raise InvalidInputError("messages hold no user message with text")


def _history(body: ChatCompletionBody) -> list[Turn]:
    """The turns before the last user message with text (the conversation so far)."""
    messages = [(m.role, m.content or "") for m in body.messages]
    for index in range(len(messages) - 1, -1, -1):
        role, content = messages[index]
        if role == "user" and content.strip():
            return message_turns(messages[:index])
    return []


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "lectern"}


async def _chunks(
    events: AsyncIterator[ServerSentEventMessage], completion_id: str, model: str
) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return json.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    yield chunk({"role": "assistant", "content": ""})
    sources: list[Any] = []
    async for event in events:
        data: Any = json.loads(str(event.data)) if event.data else {}
        if event.event == "token":
            yield chunk({"content": data["text"]})
        elif event.event == "citations":
            sources = data["citations"]
    yield chunk({"sources": sources}, finish="stop")
    yield "[DONE]"


class ChatCompletionsController(Controller):
    """The OpenAI Chat Completions and Models endpoints, answered by Lectern."""

    path = "/"
    tags = ["openai-compatible"]
    opt = {"scope": "read"}
    dependencies = {"llm": Provide(provide_llm, sync_to_thread=False)}

    @get("/models", summary="Models (OpenAI-compatible): lectern, lectern/<collection>")
    async def list_models(
        self, backends: NamedDependency[Backends], request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        """``{"object": "list", "data": [{"id": "lectern", ...}, {"id": "lectern/<c>"}]}``.

        One ``lectern/<collection>`` per collection the key may use; only ``lectern``
        while the indexer cannot list them.
        """
        try:
            found = await collections.list_all(backends, request.state.request_id)
        except (ServiceUnavailableError, UpstreamTimeoutError):
            found = []
        models = [_model(MODEL_ID), *(_model(f"{MODEL_ID}/{c.name}") for c in found)]
        return {"object": "list", "data": models}

    @post(
        "/chat/completions",
        status_code=HTTP_200_OK,
        summary="Chat completion (OpenAI-compatible)",
        opt={"scope": "read", "answer_slot": True},
    )
    async def chat_completions(
        self,
        data: JSONBody[ChatCompletionBody],
        backends: NamedDependency[Backends],
        llm: NamedDependency[LlmClient | None],
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """Answer the last user message; ``[n]`` in the text, sources in ``sources``."""
        body = _question(data)
        history = _history(data)
        request_id = request.state.request_id
        if data.stream:
            started = time.perf_counter()
            plan = await service.prepare(backends, llm, body, request_id, history)
            events = events_after_retrieval(backends, llm, body, request_id, plan, started)
            chunks = _chunks(events, f"chatcmpl-{request_id}", data.model)
            return ServerSentEvent(chunks)
        result = await service.answer(backends, llm, body, request_id, history)
        message = {
            "role": "assistant",
            "content": result.answer,
            "sources": [c.model_dump(mode="json") for c in result.citations],
        }
        usage = result.usage
        return Response(
            {
                "id": f"chatcmpl-{result.answer_id}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": data.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": usage.prompt_tokens if usage else 0,
                    "completion_tokens": usage.completion_tokens if usage else 0,
                    "total_tokens": (usage.prompt_tokens + usage.completion_tokens) if usage else 0,
                },
            }
        )
