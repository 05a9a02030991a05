"""The collection registry: which collections exist, what they hold, and removing one.

The indexer owns Qdrant, so it owns the registry: a collection is a registry point in
the same physical Qdrant collection as the chunks (see
:data:`~lectern_indexer.stores.base.REGISTRY_FIELD`); ``default`` always exists and has
no point. Creating and deleting answer over RPC (``CollectionRequest``) and publish
``CollectionCreated``/``CollectionDeleted`` once the store change is durable.
"""

from __future__ import annotations

from datetime import datetime

from lectern.contracts import (
    DEFAULT_COLLECTION,
    CollectionInfo,
    CollectionRequest,
    CollectionsResponse,
    utc_now,
)
from lectern_indexer.errors import InvalidRequestError
from lectern_indexer.stores.base import VectorStore


class UnknownCollectionError(InvalidRequestError):
    """The named collection is not registered (RPC status 404)."""


class CollectionConflictError(InvalidRequestError):
    """The collection already exists, or is ``default`` and cannot be deleted (409)."""


class CollectionRegistry:
    """Create, describe, list and drop collections in a :class:`VectorStore`.

    Args:
        store: the opened vector store.
    """

    def __init__(self, store: VectorStore) -> None:
        self.store = store

    async def exists(self, name: str) -> bool:
        """Whether ``name`` is ``default`` or registered."""
        return name == DEFAULT_COLLECTION or name in await self.store.registered()

    async def handle(self, request: CollectionRequest) -> CollectionsResponse:
        """Serve one :class:`CollectionRequest`.

        Raises:
            InvalidRequestError: ``name`` missing for an action that needs it (400).
            UnknownCollectionError: ``get``/``delete`` of an unknown collection (404).
            CollectionConflictError: ``create`` of an existing one, ``delete`` of
                ``default`` (409).
            StoreUnavailableError: the store failed (503).
        """
        registered = await self.store.registered()
        if request.action == "list":
            names = sorted({DEFAULT_COLLECTION, *registered})
            return CollectionsResponse(collections=[await self._info(n, registered) for n in names])
        name = request.name
        if name is None:
            raise InvalidRequestError(f"a {request.action} names its collection")
        known = name == DEFAULT_COLLECTION or name in registered
        if request.action == "create":
            if known:
                raise CollectionConflictError(f"collection {name!r} already exists")
            created = utc_now().isoformat()
            await self.store.register(name, created)
            return CollectionsResponse(collections=[await self._info(name, {name: created})])
        if not known:
            raise UnknownCollectionError(f"no collection named {name!r}")
        info = await self._info(name, registered)
        if request.action == "get":
            return CollectionsResponse(collections=[info])
        if name == DEFAULT_COLLECTION:
            raise CollectionConflictError("the default collection always exists")
        deleted = await self.store.drop_collection(name)
        return CollectionsResponse(collections=[info], deleted_points=deleted)

    async def _info(self, name: str, registered: dict[str, str]) -> CollectionInfo:
        created = registered.get(name)
        return CollectionInfo(
            name=name,
            created_at=datetime.fromisoformat(created) if created else None,
            document_count=await self.store.count(name, first_chunks=True),
            chunk_count=await self.store.count(name),
        )
