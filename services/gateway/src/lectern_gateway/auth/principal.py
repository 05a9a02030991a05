"""Who is calling: the principal of a request, and the client address behind proxies.

A principal is a validated key (``key:<id>``) or, in open mode, the client address
(``addr:<ip>``). It is the rate limiter's identity and the owner of the sessions the
request creates. The request's :class:`Access` is held in a context variable for the
service layer (which never sees the HTTP request) and in ``scope["auth"]`` for guards.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from lectern_gateway.auth.keys import SCOPES, ApiKey, Scope

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SESSION_ID_BYTES = 16
"""Random bytes of a server-made session id: 128 bits (:func:`secrets.token_urlsafe`)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller.

    Attributes:
        id: ``key:<key id>`` or ``addr:<client address>``.
        scopes: what it may do.
        key: the key file entry, ``None`` for an anonymous caller (open mode).
    """

    id: str
    scopes: frozenset[Scope]
    key: ApiKey | None = None

    @classmethod
    def for_key(cls, key: ApiKey) -> Principal:
        """The principal of a validated key (``admin`` implies every scope)."""
        scopes = frozenset(SCOPES) if "admin" in key.scopes else key.scopes
        return cls(id=f"key:{key.id}", scopes=scopes, key=key)

    @classmethod
    def anonymous(cls, address: str) -> Principal:
        """The principal of an open-mode caller: every scope, owner of its own sessions."""
        return cls(id=f"addr:{address}", scopes=frozenset(SCOPES))

    @property
    def reads_every_session(self) -> bool:
        """Whether it may read other principals' sessions (an ``admin`` key only)."""
        return self.key is not None and "admin" in self.scopes


@dataclass(slots=True)
class Access:
    """The access context of one request: its principal and the session it used."""

    principal: Principal
    session_id: str | None = field(default=None)

    def session_for(self, requested: str | None) -> str:
        """The request's session id: ``requested``, or a new random one (128 bits).

        The id is kept, so the gateway returns it in ``X-Session-ID``.
        """
        self.session_id = requested or self.session_id or secrets.token_urlsafe(SESSION_ID_BYTES)
        return self.session_id

    def session_owner_filter(self) -> str | None:
        """Principal a session read is restricted to; ``None`` for admins (any session)."""
        return None if self.principal.reads_every_session else self.principal.id


current_access: ContextVar[Access | None] = ContextVar("lectern_access", default=None)
"""The :class:`Access` of the request being served (set by the access middleware)."""


def request_access() -> Access:
    """The current request's :class:`Access`; outside a guarded request, an anonymous one."""
    return current_access.get() or Access(Principal.anonymous("unknown"))


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """Parse comma-separated CIDRs (``TRUSTED_PROXIES``); raises ``ValueError`` on a bad one."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


def client_address(peer: str | None, forwarded_for: str, trusted: Sequence[IpNetwork]) -> str:
    """The client's address, believing ``X-Forwarded-For`` only through trusted proxies.

    Walks the ``X-Forwarded-For`` chain from the right (the hop nearest to us) while
    each hop is a trusted proxy, and returns the first untrusted address: a client can
    prepend anything to the header, but not past a proxy we trust.

    Args:
        peer: the TCP peer address, ``None`` when unknown.
        forwarded_for: the ``X-Forwarded-For`` header (``""`` when absent).
        trusted: networks of the proxies whose header is believed (``TRUSTED_PROXIES``).

    Returns:
        The address, normalised (``ipaddress`` text form), or ``"unknown"``.
    """
    if peer is None:
        return "unknown"
    address = _ip(peer)
    if address is None:
        return peer[:64]
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    while hops and any(address in net for net in trusted):
        nxt = _ip(hops.pop())
        if nxt is None:
            break
        address = nxt
    return str(address)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
