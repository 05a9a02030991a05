"""Service layer of collections: one RPC to the indexer, which owns the registry.

The indexer keeps the registry in Qdrant beside the chunks and publishes
``CollectionCreated``/``CollectionDeleted`` before it replies, so a ``2xx`` here means
the change and its event are durable. Ingest asks whether a collection exists through
:class:`KnownCollections`, which remembers a yes for a few seconds.
"""

from __future__ import annotations

import time
from weakref import WeakKeyDictionary

from lectern.contracts import (
    DEFAULT_COLLECTION,
    CollectionAction,
    CollectionInfo,
    CollectionRequest,
    CollectionsResponse,
)
from lectern.logging import get_logger
from lectern_gateway.backends import Backends
from lectern_gateway.collections.access import may_use, require_collection
from lectern_gateway.errors import ServiceUnavailableError, UpstreamTimeoutError

log = get_logger(__name__)

KNOWN_TTL_S = 10.0
"""Seconds a "this collection exists" answer is reused by ingest. A collection deleted
meanwhile is caught by the indexer, which fails the command (``document.failed``)."""


async def _call(
    backends: Backends, action: CollectionAction, name: str | None, request_id: str
) -> CollectionsResponse:
    request = CollectionRequest(correlation_id=request_id, action=action, name=name)
    return await backends.call(
        "indexer", request, CollectionsResponse, timeout=backends.settings.search_timeout_s
    )


async def create(backends: Backends, name: str, request_id: str) -> CollectionInfo:
    """Register collection ``name``.

    Raises:
        ForbiddenError: the key may not use ``name`` (403).
        ConflictError: it exists already (``default`` always does) (409).
        ServiceUnavailableError, UpstreamTimeoutError: the indexer is away (503/504).
    """
    require_collection(name)
    response = await _call(backends, "create", name, request_id)
    known(backends).remember(name)
    return response.collections[0]


async def list_all(backends: Backends, request_id: str) -> list[CollectionInfo]:
    """Every collection the key may use, by name, with document and chunk counts."""
    response = await _call(backends, "list", None, request_id)
    return [c for c in response.collections if may_use(c.name)]


async def describe(backends: Backends, name: str, request_id: str) -> CollectionInfo:
    """One collection with its counts.

    Raises:
        ForbiddenError: the key may not use it (403). NotFoundError: unknown (404).
    """
    require_collection(name)
    return (await _call(backends, "get", name, request_id)).collections[0]


async def delete(backends: Backends, name: str, request_id: str) -> tuple[CollectionInfo, int]:
    """Remove collection ``name`` and every chunk in it; its events stay until retention.

    Returns:
        The collection as it was, and the points (chunks and tombstones) removed.

    Raises:
        ForbiddenError (403), NotFoundError (404), ConflictError for ``default`` (409).
    """
    require_collection(name)
    known(backends).forget(name)
    response = await _call(backends, "delete", name, request_id)
    return response.collections[0], response.deleted_points


class KnownCollections:
    """Remembers, for :data:`KNOWN_TTL_S`, which collections the indexer said exist."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def remember(self, name: str) -> None:
        """Record that ``name`` exists now."""
        self._seen[name] = time.monotonic()

    def forget(self, name: str) -> None:
        """Drop what is known of ``name``."""
        self._seen.pop(name, None)

    async def require(self, backends: Backends, name: str, request_id: str) -> None:
        """Check that ``name`` exists before an ingest into it is accepted.

        ``default`` always exists (so ingest into it never needs the indexer). When the
        indexer cannot answer, the command is accepted and the indexer, which checks
        again, fails it if the collection is unknown.

        Raises:
            NotFoundError: the indexer says there is no such collection (404).
        """
        seen = self._seen.get(name)
        if name == DEFAULT_COLLECTION or (seen and time.monotonic() - seen < KNOWN_TTL_S):
            return
        try:
            await _call(backends, "get", name, request_id)
        except (ServiceUnavailableError, UpstreamTimeoutError) as exc:
            log.warning("collection.unchecked", collection=name, error=exc.detail)
            return
        if len(self._seen) > 10_000:
            self._seen.clear()
        self.remember(name)


_KNOWN: WeakKeyDictionary[Backends, KnownCollections] = WeakKeyDictionary()


def known(backends: Backends) -> KnownCollections:
    """The memory of existing collections of one gateway (one per :class:`Backends`)."""
    return _KNOWN.setdefault(backends, KnownCollections())
