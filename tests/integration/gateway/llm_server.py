"""A small OpenAI-compatible chat server on loopback, with scripted replies.

It speaks the wire format of ``POST /v1/chat/completions`` (JSON, or server-sent events
ending in ``data: [DONE]`` when ``stream`` is true) so the gateway's real ``openai`` client
talks to it over real HTTP. Each request takes the next :class:`Script` from the queue
(the last one repeats): text chunks with a delay between them, a delay before the first
byte, an HTTP status error, a malformed chunk, or tool calls (streamed as OpenAI does:
the arguments of each call split over two deltas). It records every request body and
whether the client went away before the reply was finished.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from litestar import Litestar, Request, post
from litestar.response import Response, Stream


@dataclass
class Script:
    """What the server answers to one request.

    Attributes:
        chunks: text deltas of the reply.
        chunk_delay_s: pause before each chunk.
        first_byte_delay_s: pause before anything is sent.
        status: an HTTP error status to answer instead (e.g. 500).
        malformed: send a chunk that is not JSON after the first text chunk.
        usage: token counts reported in the last chunk.
        tool_calls: ``(name, arguments)`` of tool calls to send after the text chunks
            (arguments: a dict sent as JSON, or raw text).
        refuse_tools: an HTTP error status to answer when the request offers ``tools``
            (a server without tool support); a request without tools is answered.
    """

    chunks: list[str] = field(default_factory=lambda: ["Hello."])
    chunk_delay_s: float = 0.0
    first_byte_delay_s: float = 0.0
    status: int | None = None
    malformed: bool = False
    usage: tuple[int, int] = (11, 7)
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    refuse_tools: int | None = None


class ServerState:
    """Scripts to play and what was observed, shared with the test thread."""

    def __init__(self) -> None:
        self.scripts: list[Script] = [Script()]
        self.requests: list[dict[str, Any]] = []
        self.finished = 0
        self.disconnected = threading.Event()

    def next_script(self) -> Script:
        return self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


def build_app(state: ServerState) -> Litestar:
    """The scripted server's ASGI app."""

    async def events(script: Script) -> AsyncIterator[bytes]:
        try:
            await asyncio.sleep(script.first_byte_delay_s)
            yield _chunk({"role": "assistant", "content": ""})
            for n, text in enumerate(script.chunks):
                await asyncio.sleep(script.chunk_delay_s)
                yield _chunk({"content": text})
                if script.malformed and n == 0:
                    yield b"data: {this is not json\n\n"
            for index, (name, arguments) in enumerate(script.tool_calls):
                text = arguments if isinstance(arguments, str) else json.dumps(arguments)
                half = len(text) // 2
                function = {"name": name, "arguments": text[:half]}
                first = {"index": index, "id": f"call_{index}", "type": "function"}
                yield _chunk({"tool_calls": [first | {"function": function}]})
                rest = {"index": index, "function": {"arguments": text[half:]}}
                yield _chunk({"tool_calls": [rest]})
            yield _chunk({}, finish="tool_calls" if script.tool_calls else "stop")
            prompt, completion = script.usage
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            yield _chunk({}, usage=usage)
            yield b"data: [DONE]\n\n"
            state.finished += 1
        except (asyncio.CancelledError, GeneratorExit):
            state.disconnected.set()
            raise

    @post("/v1/chat/completions", status_code=200)
    async def chat(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await request.json()
        state.requests.append(body)
        script = state.next_script()
        status = script.refuse_tools if body.get("tools") else None
        if script.status is not None or status is not None:
            error = {"error": {"message": "scripted failure", "type": "server_error"}}
            return Response(error, status_code=script.status or status or 500)
        if body.get("stream"):
            return Stream(events(script), media_type="text/event-stream")
        await asyncio.sleep(script.first_byte_delay_s)
        return Response(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "scripted",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(script.chunks)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    return Litestar(route_handlers=[chat], debug=False)


@contextmanager
def running_llm_server() -> Iterator[tuple[str, ServerState]]:
    """Run the server in a thread of its own on 127.0.0.1 (a free port).

    Yields:
        ``(base_url, state)``: ``base_url`` ends in ``/v1``, as ``LLM_BASE_URL`` does.
    """
    state = ServerState()
    config = uvicorn.Config(
        build_app(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the scripted LLM server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
