"""Guards on request bodies: JSON media type, JSON nesting depth, body-read timeout.

``JsonRequest`` is the app's request class: Litestar decodes every ``JSONBody`` through
``Request.json()``, so checking there covers every JSON route at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.types import ASGIApp, Receive, Scope, Send

from lectern_gateway.errors import (
    InvalidInputError,
    RequestTimeoutError,
    UnsupportedMediaTypeError,
)

MAX_JSON_DEPTH = 32
"""Deepest accepted nesting of JSON arrays and objects; the API's bodies need 4.

msgspec and pydantic recurse once per level, so an unbounded depth (``[`` x 200000)
ends in ``RecursionError``; 32 keeps far below Python's default limit of 1000."""

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
"""A JSON string literal (unrolled loop: linear, no backtracking between quotes)."""
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays/objects deeper than ``limit``, in linear time.

    String literals are removed first (brackets inside them do not nest); then each
    opening bracket counts +1 and each closing one -1, stopping at the first level over
    ``limit``. Malformed JSON gets some answer; the decoder refuses it afterwards anyway.

    Args:
        body: the request body (UTF-8 JSON).
        limit: deepest allowed nesting.
    """
    structure = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET)
    if structure.count(b"[") + structure.count(b"{") <= limit:
        return False
    return any(depth > limit for depth in accumulate(s - 1 for s in structure.translate(_STEP)))


def is_json_media_type(content_type: str) -> bool:
    """Whether ``content_type`` (without parameters) is ``application/json`` or ``*/*+json``."""
    media_type = content_type.strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class JsonRequest(Request[Any, Any, Any]):
    """Litestar request whose ``json()`` refuses non-JSON media types and deep nesting."""

    async def json(self) -> Any:
        """Decode the body as JSON after checking its media type and depth.

        Raises:
            UnsupportedMediaTypeError: ``Content-Type`` is not JSON (415).
            InvalidInputError: nested deeper than :data:`MAX_JSON_DEPTH` (400).
        """
        media_type, _ = self.content_type
        if not is_json_media_type(media_type):
            raise UnsupportedMediaTypeError(
                f"send the body as application/json, not {media_type or 'no content type'}"
            )
        body = await self.body()
        if json_too_deep(body):
            raise InvalidInputError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
        return await super().json()


def body_timeout_middleware(timeout_s: float) -> Callable[[ASGIApp], ASGIApp]:
    """Build middleware that bounds the silence between request-body chunks.

    uvicorn (h11 or httptools) has no body-read timeout: a client that announces more
    ``Content-Length`` than it sends holds the request open until the connection dies.
    Each ``receive()`` of a body chunk waits at most ``timeout_s`` seconds; then the
    request fails with :class:`~lectern_gateway.errors.RequestTimeoutError` (408 problem,
    connection closed). Once the body is complete, ``receive`` is passed through.

    Args:
        timeout_s: ``BODY_READ_TIMEOUT_S``, seconds allowed between two body chunks.
    """

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            body_done = False

            async def timed_receive() -> Any:
                nonlocal body_done
                if body_done:
                    return await receive()
                try:
                    async with asyncio.timeout(timeout_s):
                        message = await receive()
                except TimeoutError:
                    raise RequestTimeoutError(
                        f"the request body did not arrive within {timeout_s:g} s"
                    ) from None
                body_done = message["type"] != "http.request" or not message.get("more_body")
                return message

            await app(scope, timed_receive, send)

        return middleware

    return wrap
