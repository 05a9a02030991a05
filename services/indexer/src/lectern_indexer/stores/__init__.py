"""Vector-store adapters behind the :class:`~lectern_indexer.stores.base.VectorStore` port."""

from __future__ import annotations

from lectern_indexer.settings import IndexerSettings
from lectern_indexer.stores.base import VectorStore
from lectern_indexer.stores.edge import QdrantEdgeStore
from lectern_indexer.stores.server import QdrantServerStore


def create_store(settings: IndexerSettings) -> VectorStore:
    """Return the server adapter when ``QDRANT_URL`` is set, else the embedded one."""
    if settings.qdrant_url is not None:
        return QdrantServerStore.from_url(
            str(settings.qdrant_url),
            api_key=settings.qdrant_api_key,
            collection=settings.qdrant_collection,
            timeout=settings.store_timeout,
        )
    return QdrantEdgeStore(
        settings.qdrant_path,
        timeout=settings.store_timeout,
        group_max_writes=settings.store_group_max_writes,
        group_max_wait_s=settings.store_group_max_wait_ms / 1000,
    )
