"""API-key guard for writes (``X-API-Key`` header or ``Authorization: Bearer``)."""

from __future__ import annotations

import hashlib
import hmac

from litestar.connection import ASGIConnection, Request
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

API_KEY_HEADER = "x-api-key"


def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:  # type: ignore[type-arg]
    """Refuse a write without a configured key (401); no keys configured: allow all.

    Keys are compared in constant time (``hmac.compare_digest``).

    Raises:
        NotAuthorizedException: key missing or unknown.
    """
    keys: frozenset[str] = connection.app.state.backends.settings.api_key_set
    if not keys:
        return
    supplied = connection.headers.get(API_KEY_HEADER, "")
    bearer = connection.headers.get("authorization", "")
    if not supplied and bearer.lower().startswith("bearer "):
        supplied = bearer[7:].strip()
    if not any(hmac.compare_digest(supplied.encode(), key.encode()) for key in keys):
        raise NotAuthorizedException("a valid API key is required for writes (X-API-Key)")


def rate_limit_identifier(request: Request) -> str:  # type: ignore[type-arg]
    """Key rate limits by API key when one is sent, else by client address.

    The key itself is not stored: only a short, non-reversible prefix of its hash.
    """
    key = request.headers.get(API_KEY_HEADER) or request.headers.get("authorization", "")
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    client = request.client
    return "addr:" + (client.host if client else "unknown")
