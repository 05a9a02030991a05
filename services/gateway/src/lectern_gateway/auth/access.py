"""The ``/v1`` router's access middleware: authenticate, then rate-limit, then serve.

Order matters for memory and for floods:

1. The presented key (``X-API-Key`` or ``Authorization: Bearer``) is checked against the
   key file. A missing or invalid key is refused with ``401`` and counted only against
   the client address (``auth_failures_per_minute``; ``429`` past it): a random header
   per request creates no limiter state of its own.
2. A validated principal (``key:<id>``, or ``addr:<ip>`` in open mode) is counted
   against its limit for the route's scope; past it, ``429`` with ``Retry-After``.
3. Answer routes (``opt["answer_slot"]``) take one of the principal's concurrent slots.

Every response carries ``RateLimit-*``; one whose request used a session carries
``X-Session-ID``. The scope itself is checked by the router's guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lectern_gateway.auth.guards import CONCURRENCY_OPT, required_scope, unauthorized
from lectern_gateway.auth.keyring import KeyRing
from lectern_gateway.auth.limits import RateLimiter, Verdict
from lectern_gateway.auth.principal import (
    Access,
    IpNetwork,
    Principal,
    client_address,
    current_access,
)

SESSION_HEADER = "x-session-id"
SLOT_TTL_S = 300
"""Seconds a concurrent-answer slot survives in Redis if its process dies holding it."""


@dataclass(frozen=True)
class AccessControl:
    """What the access middleware needs; built once in ``create_app``.

    Attributes:
        keys: the configured keys.
        limiter: the rate limiter (in-process or Redis counters).
        trusted_proxies: networks whose ``X-Forwarded-For`` is believed.
        default_limit: requests per minute when the key file names none.
        failure_limit: unauthenticated requests per minute per address.
        max_answers: concurrent answer requests per principal when the key names none.
    """

    keys: KeyRing
    limiter: RateLimiter
    trusted_proxies: tuple[IpNetwork, ...]
    default_limit: int
    failure_limit: int
    max_answers: int


def presented_secret(headers: Headers) -> str:
    """The key a request presents: ``X-API-Key``, else a ``Bearer`` token, else ``""``."""
    secret = headers.get("x-api-key", "")
    bearer = headers.get("authorization", "")
    if not secret and bearer[:7].lower() == "bearer ":
        secret = bearer[7:].strip()
    return secret


def _too_many(verdict: Verdict, window_s: int, detail: str) -> TooManyRequestsException:
    headers = verdict.headers(window_s) | {"Retry-After": str(verdict.reset_s)}
    return TooManyRequestsException(detail, headers=headers)


async def authenticate(control: AccessControl, scope: Scope, headers: Headers) -> Principal:
    """Return the request's principal, or raise ``401``/``429`` (see module doc)."""
    client = scope.get("client")
    address = client_address(
        client[0] if client else None, headers.get("x-forwarded-for", ""), control.trusted_proxies
    )
    keys = control.keys.current()
    if control.keys.open:
        return Principal.anonymous(address)
    secret = presented_secret(headers)
    key = keys.match(secret) if secret else None
    if key is not None:
        return Principal.for_key(key)
    verdict = await control.limiter.hit(f"auth-failed:{address}", control.failure_limit)
    if not verdict.allowed:
        raise _too_many(verdict, control.limiter.window_s, "too many requests without a valid key")
    raise unauthorized("a valid API key is required (X-API-Key or Authorization: Bearer)")


async def admit(control: AccessControl, scope: Scope) -> tuple[Access, Verdict, str | None]:
    """Authenticate and rate-limit a request.

    Returns:
        ``(access, verdict, slot)``: the request's access context, its rate-limit
        verdict (for the headers) and the concurrent-answer slot it holds, if any.

    Raises:
        NotAuthorizedException: no valid key (401).
        TooManyRequestsException: over a limit or the answer cap (429, ``Retry-After``).
    """
    principal = await authenticate(control, scope, Headers.from_scope(scope))
    handler = scope["route_handler"]
    needed = required_scope(handler)
    limit = control.default_limit
    if principal.key is not None:
        limit = control.keys.current().limit_for(principal.key, needed, limit)
    window = control.limiter.window_s
    verdict = await control.limiter.hit(f"{principal.id}:{needed}", limit)
    if not verdict.allowed:
        raise _too_many(verdict, window, f"rate limit of {limit} per {window} s reached")
    slot = f"answers:{principal.id}" if handler.opt.get(CONCURRENCY_OPT) else None
    if slot is not None:
        own = principal.key.max_concurrent_answers if principal.key else None
        cap = own or control.max_answers
        if not await control.limiter.counters.acquire(slot, cap, SLOT_TTL_S):
            raise TooManyRequestsException(
                f"{cap} answer requests already in flight", headers={"Retry-After": "1"}
            )
    return Access(principal), verdict, slot


def access_middleware(control: AccessControl) -> Any:
    """Build the middleware factory for the ``/v1`` router (``middleware=[...]``)."""
    window = control.limiter.window_s

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":  # type: ignore[comparison-overlap]
                await app(scope, receive, send)
                return
            access, verdict, slot = await admit(control, scope)
            scope["auth"] = access
            scope["user"] = access.principal

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    out = MutableScopeHeaders.from_message(message)
                    for name, value in verdict.headers(window).items():
                        out[name] = value
                    if access.session_id:
                        out[SESSION_HEADER] = access.session_id
                await send(message)

            token = current_access.set(access)
            try:
                await app(scope, receive, send_with_headers)
            finally:
                current_access.reset(token)
                if slot is not None:
                    await control.limiter.counters.release(slot)

        return middleware

    return factory
