"""API-key guard for writes (``X-API-Key`` header or ``Authorization: Bearer``)."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
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
