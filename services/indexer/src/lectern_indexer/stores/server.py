"""``VectorStore`` on a Qdrant server through qdrant-client's ``AsyncQdrantClient``.

Same collection layout as the embedded adapter: named dense vector ``dense`` (384,
cosine), sparse vector ``bm25`` with ``Modifier.IDF``, keyword/integer payload indexes.
Writes use ``wait=True``: they return once the server applied them durably. Tests run it
against qdrant-client's local mode (``AsyncQdrantClient(location=":memory:")``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from lectern.contracts import MetadataFilter, SearchMode
from lectern_indexer.embedding import DENSE_DIMENSIONS
from lectern_indexer.errors import StoreUnavailableError
from lectern_indexer.fusion import fused_search
from lectern_indexer.stores.base import (
    DENSE_VECTOR,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    SPARSE_VECTOR,
    SUMMARY_FIELDS,
    TOMBSTONE_FIELD,
    ChunkPoint,
    ScoredPoint,
    StoredPoint,
    VectorQuery,
    metadata_index_keys,
    tombstone_point_id,
)

T = TypeVar("T")
_SCHEMAS = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
}
_SCROLL_PAGE = 512


def server_filter(conditions: MetadataFilter | None) -> models.Filter | None:
    """Translate a :class:`MetadataFilter` into a qdrant-client filter (``None`` if empty)."""
    if conditions is None:
        return None
    must: list[models.Condition] = []
    if conditions.document_ids is not None:
        must.append(
            models.FieldCondition(
                key="document_id", match=models.MatchAny(any=conditions.document_ids)
            )
        )
    if conditions.sources is not None:
        must.append(
            models.FieldCondition(key="source", match=models.MatchAny(any=conditions.sources))
        )
    for key, value in (conditions.metadata or {}).items():
        must.append(
            models.FieldCondition(key=f"metadata.{key}", match=models.MatchValue(value=value))
        )
    return models.Filter(must=must) if must else None


class QdrantServerStore:
    """A collection on a Qdrant server (or qdrant-client local mode).

    Args:
        client: the async client (owned: closed by :meth:`close`).
        collection: collection name, created on :meth:`open` if missing.
        timeout: seconds any single call may take.
    """

    kind = "qdrant-server"

    def __init__(
        self, client: AsyncQdrantClient, collection: str, *, timeout: float = 30.0
    ) -> None:
        self.client = client
        self.collection = collection
        self.timeout = timeout
        self._indexed: set[str] = set()

    @classmethod
    def from_url(
        cls, url: str, *, api_key: str | None, collection: str, timeout: float = 30.0
    ) -> QdrantServerStore:
        """Build the adapter for a server URL (no connection is made yet)."""
        client = AsyncQdrantClient(url=url, api_key=api_key, timeout=int(timeout))
        return cls(client, collection, timeout=timeout)

    async def open(self) -> None:
        """Create the collection and payload indexes when missing."""
        if not await self._call(self.client.collection_exists(self.collection)):
            await self._call(
                self.client.create_collection(
                    self.collection,
                    vectors_config={
                        DENSE_VECTOR: models.VectorParams(
                            size=DENSE_DIMENSIONS, distance=models.Distance.COSINE
                        )
                    },
                    sparse_vectors_config={
                        SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                    },
                )
            )
        info = await self._call(self.client.get_collection(self.collection))
        self._indexed = set(info.payload_schema or {})
        wanted = {f: "keyword" for f in KEYWORD_FIELDS} | {f: "integer" for f in INTEGER_FIELDS}
        await self._create_indexes(wanted)

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()

    async def ping(self) -> bool:
        """Whether the collection answers a count."""
        try:
            await self._call(self.client.count(self.collection, exact=False))
        except StoreUnavailableError:
            return False
        return True

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Upsert points with ``wait=True`` (creating metadata indexes first)."""
        if not points:
            return
        await self._create_indexes(metadata_index_keys(points))
        structs = [
            models.PointStruct(
                id=p.id,
                vector={
                    DENSE_VECTOR: p.dense,
                    SPARSE_VECTOR: models.SparseVector(
                        indices=p.sparse.indices, values=p.sparse.values
                    ),
                },
                payload=p.payload,
            )
            for p in points
        ]
        await self._call(self.client.upsert(self.collection, points=structs, wait=True))

    async def document_points(self, document_id: str) -> list[StoredPoint]:
        """Scroll every point of ``document_id`` (summary payload fields only)."""
        condition = models.Filter(
            must=[
                models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id))
            ]
        )
        found: list[StoredPoint] = []
        offset: Any = None
        while True:
            records, offset = await self._call(
                self.client.scroll(
                    self.collection,
                    scroll_filter=condition,
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=list(SUMMARY_FIELDS),
                    with_vectors=False,
                )
            )
            found.extend(StoredPoint(str(r.id), dict(r.payload or {})) for r in records)
            if offset is None:
                return found

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete points by id with ``wait=True``."""
        if point_ids:
            selector = models.PointIdsList(points=list(point_ids))
            await self._call(
                self.client.delete(self.collection, points_selector=selector, wait=True)
            )

    async def tombstone(self, document_id: str) -> str | None:
        """Read the order key of the document's tombstone point, if any."""
        records = await self._call(
            self.client.retrieve(
                self.collection,
                ids=[tombstone_point_id(document_id)],
                with_payload=True,
                with_vectors=False,
            )
        )
        key = dict(records[0].payload or {}).get("order_key") if records else None
        return key if isinstance(key, str) else None

    async def put_tombstone(self, document_id: str, order_key: str) -> None:
        """Upsert the document's tombstone (a point without vectors) with ``wait=True``."""
        tombstone = models.PointStruct(
            id=tombstone_point_id(document_id),
            vector={},
            payload={TOMBSTONE_FIELD: document_id, "order_key": order_key},
        )
        await self._call(self.client.upsert(self.collection, points=[tombstone], wait=True))

    async def set_payload(self, point_ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set payload keys on points with ``wait=True``."""
        if point_ids:
            await self._call(
                self.client.set_payload(
                    self.collection, payload=payload, points=list(point_ids), wait=True
                )
            )

    async def search(self, query: VectorQuery) -> list[ScoredPoint]:
        """Run the query; hybrid fetches both candidate lists and fuses them in our code."""
        return await fused_search(self._nearest, query)

    async def _nearest(self, query: VectorQuery, mode: SearchMode, limit: int) -> list[ScoredPoint]:
        vector: Any
        if mode == "dense" and query.dense is not None:
            vector = query.dense
        elif mode == "sparse" and query.sparse is not None:
            vector = models.SparseVector(indices=query.sparse.indices, values=query.sparse.values)
        else:
            raise ValueError(f"a {mode} search needs its query vector")
        response = await self._call(
            self.client.query_points(
                self.collection,
                query=vector,
                using=DENSE_VECTOR if mode == "dense" else SPARSE_VECTOR,
                query_filter=server_filter(query.filter),
                limit=limit,
                with_payload=True,
            )
        )
        return [
            ScoredPoint(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points
        ]

    async def indexed_fields(self) -> set[str]:
        """Payload fields with an index, as the collection reports them."""
        info = await self._call(self.client.get_collection(self.collection))
        return set(info.payload_schema or {})

    async def _create_indexes(self, fields: dict[str, str]) -> None:
        for field, schema in fields.items():
            if field not in self._indexed:
                await self._call(
                    self.client.create_payload_index(
                        self.collection, field_name=field, field_schema=_SCHEMAS[schema], wait=True
                    )
                )
                self._indexed.add(field)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (ResponseHandlingException, UnexpectedResponse, OSError, TimeoutError) as exc:
            raise StoreUnavailableError(f"Qdrant server call failed: {exc}") from exc
