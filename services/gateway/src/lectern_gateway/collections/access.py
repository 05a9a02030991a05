"""Which collections a request may use: the key's ``collections`` (``*`` for all).

Every check reads the request's :class:`~lectern_gateway.auth.principal.Access` (set by
the access middleware); an open-mode caller may use every collection.
"""

from __future__ import annotations

from collections.abc import Sequence

from lectern.contracts import DEFAULT_COLLECTION
from lectern_gateway.auth import request_access
from lectern_gateway.errors import ForbiddenError

ALL = "*"
"""In a key's ``collections`` or a search's ``collections``: every collection."""


def allowed_collections() -> frozenset[str] | None:
    """The collections the current principal may use; ``None`` for every collection."""
    key = request_access().principal.key
    if key is None or ALL in key.collections:
        return None
    return frozenset(key.collections)


def may_use(name: str) -> bool:
    """Whether the current principal may use collection ``name``."""
    allowed = allowed_collections()
    return allowed is None or name in allowed


def require_collection(name: str) -> str:
    """Return ``name`` if the current principal may use it.

    Raises:
        ForbiddenError: the key's ``collections`` do not include it (403).
    """
    if not may_use(name):
        raise ForbiddenError(f"this key may not use the collection {name!r}")
    return name


def read_collections(requested: Sequence[str] | None) -> list[str] | None:
    """The collections a search or read covers, checked against the key.

    Args:
        requested: names from the request; ``None`` or empty: every collection the key
            may read; ``*`` among them: every collection the key may read.

    Returns:
        The sorted names, or ``None`` for every collection (a key with ``*``).

    Raises:
        ForbiddenError: a named collection is not one the key may use (403).
    """
    allowed = allowed_collections()
    if not requested or ALL in requested:
        return None if allowed is None else sorted(allowed)
    return sorted({require_collection(name) for name in requested})


def write_collection(name: str | None) -> str:
    """The collection an ingest or delete writes to (``default`` when absent), checked.

    Raises:
        ForbiddenError: the key may not use it (403).
    """
    return require_collection(name or DEFAULT_COLLECTION)
