"""Request-id middleware: every request gets an id, bound to logs and echoed back.

The id comes from the ``X-Request-ID`` header when the client sends a sane one, else a
new UUID4 hex; it becomes the ``correlation_id`` of every message the request causes.
"""

from __future__ import annotations

import re
from uuid import uuid4

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lectern.logging import bind_correlation_id

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so each HTTP request carries ``scope["state"]["request_id"]``."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _SANE_ID.match(incoming) else uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with bind_correlation_id(request_id):
            await app(scope, receive, send_with_id)

    return middleware
