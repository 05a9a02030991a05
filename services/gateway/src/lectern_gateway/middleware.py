"""Request-id middleware.

Every request gets an id, bound to logs and echoed back: it comes from the
``X-Request-ID`` header when the client sends a sane one, else a new UUID4 hex; it
becomes the ``correlation_id`` of every message the request causes. The header is set
by the app-level ``before_send`` hook, so answers the router gives before any
middleware runs (404, 405) carry it too.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lectern.logging import bind_correlation_id

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def ensure_request_id(scope: Any) -> str:
    """Return the request's id, choosing it on first use (``scope["state"]["request_id"]``).

    Args:
        scope: the ASGI HTTP scope (a mapping with ``headers`` and ``state``).
    """
    state: dict[str, Any] = scope.setdefault("state", {})
    request_id: str | None = state.get("request_id")
    if request_id is None:
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _SANE_ID.match(incoming) else uuid4().hex
        state["request_id"] = request_id
    return request_id


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: put ``X-Request-ID`` on every HTTP response start."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = ensure_request_id(scope)


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so each HTTP request carries its id and logs are bound to it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        with bind_correlation_id(ensure_request_id(scope)):
            await app(scope, receive, send)

    return middleware


async def correct_options_allow(message: Message, scope: Scope) -> None:
    """``before_send`` hook: answer ``OPTIONS`` with every method of the matched route.

    Litestar 2.25 makes a path's automatic ``OPTIONS`` handler when the path's first
    handler is registered and keeps it when more handlers join the route, so its
    ``Allow`` header misses their methods (``GET`` next to ``DELETE``). The route that
    holds the handler knows all of them.
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    handler = scope.get("route_handler")
    for route in scope["litestar_app"].routes:
        if isinstance(route, HTTPRoute) and handler in route.route_handlers:
            MutableScopeHeaders.from_message(message)["allow"] = ", ".join(sorted(route.methods))
            return


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


async def add_security_headers(message: Message, scope: Scope) -> None:
    """``before_send`` hook: give every HTTP response the security headers and a CSP.

    ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, and a
    ``Content-Security-Policy``: :data:`DOCS_CSP` under ``/schema``, else :data:`API_CSP`.
    A hook rather than a middleware, so routing's own 404/405 answers get them too; a
    coroutine function, as every hook here, because Litestar runs a sync ``before_send``
    hook in a worker thread for every message sent (response start and body).
    """
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    path: str = scope.get("path", "")
    headers["content-security-policy"] = DOCS_CSP if path.startswith("/schema") else API_CSP
