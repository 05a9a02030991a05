"""The ``VectorStore`` port: what the indexer needs from a vector database.

Two adapters implement it with the same vectors, payload and indexes:
:class:`~lectern_indexer.stores.edge.QdrantEdgeStore` (embedded) and
:class:`~lectern_indexer.stores.server.QdrantServerStore` (Qdrant server). Every write
returns only once it is durable, so the caller may acknowledge its message.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lectern.contracts import (
    DEFAULT_COLLECTION,
    HitExplanation,
    MetadataFilter,
    SearchMode,
    document_key,
)
from lectern_indexer.embedding import SparseVector
from lectern_indexer.fusion import DEFAULT_FUSION, FusionConfig

CHUNK_ID_NAMESPACE = uuid.UUID("4219be33-a59b-5319-83a7-ff7365012be1")
"""Namespace of chunk point ids: ``uuid5(NAMESPACE_URL, "urn:lectern:chunk")``. Never change
it: every stored point id derives from it."""

DENSE_VECTOR = "dense"
"""Name of the dense vector (384 floats, cosine)."""

SPARSE_VECTOR = "bm25"
"""Name of the sparse BM25 vector (IDF applied by the engine)."""

COLLECTION_FIELD = "collection"
"""Payload field naming a point's collection: a keyword index with ``is_tenant=True``.

All collections share one physical Qdrant collection (one Edge shard), as Qdrant's
multitenancy guide recommends for many small tenants: the tenant index lets the engine
co-locate each tenant's points and build per-tenant HNSW graphs, and every read filters
on this field."""

KEYWORD_FIELDS = ("document_id", "version", "source", "format")
"""Payload fields with a plain keyword index (besides :data:`COLLECTION_FIELD`)."""

INTEGER_FIELDS = ("chunk_index",)
"""Payload fields with an integer index."""

SUMMARY_FIELDS = (
    "collection",
    "document_id",
    "version",
    "chunk_index",
    "chunk_count",
    "title",
    "source",
    "format",
    "metadata",
    "order_key",
)
"""Payload fields read when listing a document's points (everything but the text)."""

TOMBSTONE_FIELD = "tombstone_of"
"""Payload field naming the deleted document on its tombstone point.

A tombstone has no vectors (so no search ever returns it) and no ``document_id`` (so
it is never one of the document's points); it holds the ``order_key`` of the delete and
its ``collection`` (so deleting a collection removes its tombstones too)."""

REGISTRY_FIELD = "registry_of"
"""Payload field naming a registered collection on its registry point (no vectors, no
``collection`` key: it is found by id and by this field only)."""

METADATA_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Metadata keys that may be filtered on (safe as a payload path ``metadata.<key>``)."""


def chunk_point_id(
    document_id: str, version: str, chunk_index: int, collection: str = DEFAULT_COLLECTION
) -> str:
    """Return the point id of a chunk: ``uuid5(namespace, "<scoped doc>:<version>:<index>")``.

    Deterministic, so re-writing a version overwrites its own points (idempotent). The
    scoped document is :func:`lectern.contracts.document_key`: the bare id in ``default``
    (ids stored before collections stay valid), so one id in two collections is two
    documents.
    """
    scoped = document_key(collection, document_id)
    return str(uuid.uuid5(CHUNK_ID_NAMESPACE, f"{scoped}:{version}:{chunk_index}"))


def tombstone_point_id(document_id: str, collection: str = DEFAULT_COLLECTION) -> str:
    """Return the id of a document's tombstone: ``uuid5(namespace, "<scoped doc>:tombstone")``.

    Never equal to a chunk id (those end in ``:<version>:<index>``).
    """
    return str(uuid.uuid5(CHUNK_ID_NAMESPACE, f"{document_key(collection, document_id)}:tombstone"))


def tombstone_payload(
    document_id: str, order_key: str, collection: str = DEFAULT_COLLECTION
) -> dict[str, str]:
    """The payload of a document's tombstone (a point without vectors), on every store."""
    return {TOMBSTONE_FIELD: document_id, "order_key": order_key, COLLECTION_FIELD: collection}


def registry_point_id(collection: str) -> str:
    """Return the id of a collection's registry point: ``uuid5(namespace, "|<name>|registry")``.

    Starts with ``|``, so it is never a chunk's or tombstone's id.
    """
    return str(uuid.uuid5(CHUNK_ID_NAMESPACE, f"|{collection}|registry"))


@dataclass(frozen=True)
class ChunkPoint:
    """A chunk ready to store.

    Attributes:
        id: :func:`chunk_point_id` of the chunk.
        dense: ``list[float]`` of length 384.
        sparse: BM25 term weights.
        payload: ``collection``, ``document_id``, ``version``, ``chunk_index``, ``chunk_count``,
            ``title``, ``source``, ``heading_path``, ``text``, ``format``, ``metadata``,
            ``indexed_at``, ``order_key`` (of the command that wrote it).
    """

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoredPoint:
    """A point as read back: its id and (part of) its payload."""

    id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScoredPoint:
    """A search result: id, score (cosine, BM25 or fused), payload, and why it ranked."""

    id: str
    score: float
    payload: dict[str, Any]
    explain: HitExplanation | None = None


@dataclass(frozen=True)
class VectorQuery:
    """A search to run.

    Attributes:
        mode: ``dense``, ``sparse`` or ``hybrid`` (both lists, fused by ``fusion``).
        dense: query vector (needed for ``dense`` and ``hybrid``).
        sparse: query terms (needed for ``sparse`` and ``hybrid``).
        limit: results to return.
        filter: conditions every result meets.
        collections: the collections searched; ``None`` for every collection.
        prefetch_limit: candidates per vector before fusion (``hybrid`` only).
        fusion: how ``hybrid`` fuses the two lists (:mod:`lectern_indexer.fusion`).
    """

    mode: SearchMode
    dense: list[float] | None
    sparse: SparseVector | None
    limit: int
    filter: MetadataFilter | None = None
    collections: tuple[str, ...] | None = None
    prefetch_limit: int = 100
    fusion: FusionConfig = DEFAULT_FUSION


class VectorStore(Protocol):
    """Port to a vector database holding chunk points."""

    kind: str
    """``"qdrant-edge"`` or ``"qdrant-server"`` (reported by ping)."""

    async def open(self) -> None:
        """Connect or load, creating the collection and payload indexes if missing."""
        ...

    async def close(self) -> None:
        """Flush and release the store."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers a trivial read."""
        ...

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Insert or overwrite points; durable when it returns."""
        ...

    async def document_points(
        self, document_id: str, collection: str = DEFAULT_COLLECTION
    ) -> list[StoredPoint]:
        """Every point of a document of ``collection`` with its :data:`SUMMARY_FIELDS` payload."""
        ...

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete points by id; durable when it returns."""
        ...

    async def tombstone(self, document_id: str, collection: str = DEFAULT_COLLECTION) -> str | None:
        """The ``order_key`` of the document's tombstone, or ``None`` if it has none."""
        ...

    async def put_tombstone(
        self, document_id: str, order_key: str, collection: str = DEFAULT_COLLECTION
    ) -> None:
        """Write (or overwrite) the document's tombstone; durable when it returns."""
        ...

    async def set_payload(self, point_ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Overwrite the given payload keys on points; durable when it returns."""
        ...

    async def search(self, query: VectorQuery) -> list[ScoredPoint]:
        """Run a dense, sparse or hybrid search (:func:`~lectern_indexer.fusion.fused_search`).

        Results are ordered by descending score, ties by point id, each with its
        :class:`HitExplanation`.
        """
        ...

    async def indexed_fields(self) -> set[str]:
        """Payload fields that carry an index (diagnostics and contract tests)."""
        ...

    async def tenant_fields(self) -> set[str]:
        """Payload fields indexed as tenant keys (``is_tenant``), as the engine reports them."""
        ...

    async def count(self, collection: str, *, first_chunks: bool = False) -> int:
        """Exact number of chunks of ``collection``; tombstones never count.

        With ``first_chunks``, only chunk 0 of each version: the documents.
        """
        ...

    async def registered(self) -> dict[str, str]:
        """Registered collections: name -> ``created_at`` (ISO 8601); ``default`` is implicit."""
        ...

    async def register(self, collection: str, created_at: str) -> None:
        """Write ``collection``'s registry point; durable when it returns."""
        ...

    async def drop_collection(self, collection: str) -> int:
        """Remove the registry point, then every chunk and tombstone of ``collection``.

        Durable when it returns; returns the number of points removed.
        """
        ...


def metadata_index_keys(points: Sequence[ChunkPoint]) -> dict[str, str]:
    """Return filterable metadata keys of ``points`` and their index type.

    Returns:
        ``{"metadata.<key>": "keyword" | "integer" | "float" | "bool"}`` for keys that
        match :data:`METADATA_KEY`; the first value seen decides the type.
    """
    found: dict[str, str] = {}
    for point in points:
        for key, value in (point.payload.get("metadata") or {}).items():
            path = f"metadata.{key}"
            if path in found or not METADATA_KEY.match(key):
                continue
            if isinstance(value, bool):
                found[path] = "bool"
            elif isinstance(value, int):
                found[path] = "integer"
            elif isinstance(value, float):
                found[path] = "float"
            else:
                found[path] = "keyword"
    return found
