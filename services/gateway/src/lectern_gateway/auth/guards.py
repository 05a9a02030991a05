"""Router-level guard: the route's scope (``opt={"scope": ...}``) must be held.

Every ``/v1`` route sits under one router whose guard is :func:`require_scope`; a route
or controller names its scope in ``opt``. A route that names none needs ``admin``, the
strictest scope, so a new route is protected before anyone thinks about it.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from lectern_gateway.auth.keys import SCOPES, Scope
from lectern_gateway.auth.principal import Access

SCOPE_OPT = "scope"
"""Key of a route's ``opt`` naming the scope it needs."""
CONCURRENCY_OPT = "answer_slot"
"""Key of a route's ``opt``: ``True`` when it counts against the concurrent-answer cap."""
DEFAULT_SCOPE: Scope = "admin"
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="lectern", charset="UTF-8"'}
"""Sent with every ``401``: present the key as ``Authorization: Bearer`` or ``X-API-Key``."""


def required_scope(handler: BaseRouteHandler) -> Scope:
    """The scope ``handler`` needs: its ``opt["scope"]``, else :data:`DEFAULT_SCOPE`."""
    scope = handler.opt.get(SCOPE_OPT, DEFAULT_SCOPE)
    for known in SCOPES:
        if scope == known:
            return known
    return DEFAULT_SCOPE


def unauthorized(detail: str) -> NotAuthorizedException:
    """A ``401`` with ``WWW-Authenticate``."""
    return NotAuthorizedException(detail, headers=WWW_AUTHENTICATE)


def _require(connection: ASGIConnection[Any, Any, Any, Any], scope: Scope) -> None:
    access = connection.scope.get("auth")
    if not isinstance(access, Access):
        raise unauthorized("a valid API key is required (X-API-Key or Authorization: Bearer)")
    if scope not in access.principal.scopes:
        raise PermissionDeniedException(f"this key does not hold the {scope!r} scope")


async def require_scope(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Refuse a request whose principal lacks the route's scope.

    A coroutine function although it never awaits: Litestar runs a sync guard in a
    worker thread (``sync_to_thread``), a thread hop on every request.

    Raises:
        NotAuthorizedException: no validated principal (401, ``WWW-Authenticate``).
        PermissionDeniedException: the principal lacks the scope (403).
    """
    _require(connection, required_scope(handler))


async def require_api_key(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Compatibility alias: the ``write`` scope (routes under the ``/v1`` router only).

    Prefer ``opt={"scope": "write"}``: the router's guard already applies it.
    """
    _require(connection, "write")
