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


API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""CSP of every API response: JSON is never a document, so nothing may load or frame it."""
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""CSP of the docs pages under ``/schema``: Litestar's Swagger UI page loads its bundle
from jsDelivr and starts it with an inline script holding the spec."""
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: give every HTTP response the security headers and a CSP.

    ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, and a
    ``Content-Security-Policy``: :data:`DOCS_CSP` under ``/schema``, else :data:`API_CSP`.
    A hook rather than a middleware, so routing's own 404/405 answers get them too.
    """
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    path: str = scope.get("path", "")
    headers["content-security-policy"] = DOCS_CSP if path.startswith("/schema") else API_CSP
