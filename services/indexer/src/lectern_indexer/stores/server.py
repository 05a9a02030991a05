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

from lectern.contracts import DEFAULT_COLLECTION, MetadataFilter, SearchMode
from lectern_indexer.embedding import DENSE_DIMENSIONS
from lectern_indexer.errors import StoreUnavailableError
from lectern_indexer.fusion import fused_search
from lectern_indexer.stores.base import (
    COLLECTION_FIELD,
    DENSE_VECTOR,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    REGISTRY_FIELD,
    SPARSE_VECTOR,
    SUMMARY_FIELDS,
    ChunkPoint,
    ScoredPoint,
    StoredPoint,
    VectorQuery,
    metadata_index_keys,
    registry_point_id,
    tombstone_payload,
    tombstone_point_id,
)
from lectern_indexer.stores.index_settings import (
    FULL_SCAN_THRESHOLD_KB,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    HNSW_PAYLOAD_M,
    INDEXING_THRESHOLD_KB,
)

T = TypeVar("T")
_SCHEMAS = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
    "bool": models.PayloadSchemaType.BOOL,
}
_SCROLL_PAGE = 512
_TENANT = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)


def in_collections(collections: Sequence[str]) -> models.FieldCondition:
    """The condition "the point's collection is one of ``collections``"."""
    return models.FieldCondition(key=COLLECTION_FIELD, match=models.MatchAny(any=list(collections)))


def server_filter(
    conditions: MetadataFilter | None, collections: Sequence[str] | None = None
) -> models.Filter | None:
    """Translate a :class:`MetadataFilter` and the searched collections to a client filter.

    ``None`` if both are empty; ``collections=None`` means every collection.
    """
    must: list[models.Condition] = [] if collections is None else [in_collections(collections)]
    if conditions is None:
        return models.Filter(must=must) if must else None
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
        self._created: dict[str, str] = {}

    @classmethod
    def from_url(
        cls, url: str, *, api_key: str | None, collection: str, timeout: float = 30.0
    ) -> QdrantServerStore:
        """Build the adapter for a server URL (no connection is made yet)."""
        client = AsyncQdrantClient(url=url, api_key=api_key, timeout=int(timeout))
        return cls(client, collection, timeout=timeout)

    async def open(self) -> None:
        """Create the collection and payload indexes when missing.

        Index settings: ``stores/index_settings.py``; the server builds HNSW graphs
        itself, in the background.
        """
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
                    on_disk_payload=True,
                    hnsw_config=models.HnswConfigDiff(
                        m=HNSW_M,
                        ef_construct=HNSW_EF_CONSTRUCT,
                        full_scan_threshold=FULL_SCAN_THRESHOLD_KB,
                        payload_m=HNSW_PAYLOAD_M,
                    ),
                    optimizers_config=models.OptimizersConfigDiff(
                        indexing_threshold=INDEXING_THRESHOLD_KB
                    ),
                )
            )
        info = await self._call(self.client.get_collection(self.collection))
        self._indexed = set(info.payload_schema or {})
        wanted = {f: "keyword" for f in (*KEYWORD_FIELDS, REGISTRY_FIELD)}
        wanted |= {f: "integer" for f in INTEGER_FIELDS} | {COLLECTION_FIELD: "tenant"}
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

    async def document_points(
        self, document_id: str, collection: str = DEFAULT_COLLECTION
    ) -> list[StoredPoint]:
        """Scroll every point of ``document_id`` in ``collection`` (summary fields only)."""
        condition = models.Filter(
            must=[
                in_collections([collection]),
                models.FieldCondition(
                    key="document_id", match=models.MatchValue(value=document_id)
                ),
            ]
        )
        return await self._scroll(condition, list(SUMMARY_FIELDS))

    async def _scroll(self, condition: models.Filter, fields: list[str]) -> list[StoredPoint]:
        found: list[StoredPoint] = []
        offset: Any = None
        while True:
            records, offset = await self._call(
                self.client.scroll(
                    self.collection,
                    scroll_filter=condition,
                    limit=_SCROLL_PAGE,
                    offset=offset,
                    with_payload=fields,
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

    async def tombstone(self, document_id: str, collection: str = DEFAULT_COLLECTION) -> str | None:
        """Read the order key of the document's tombstone point, if any."""
        records = await self._call(
            self.client.retrieve(
                self.collection,
                ids=[tombstone_point_id(document_id, collection)],
                with_payload=True,
                with_vectors=False,
            )
        )
        key = dict(records[0].payload or {}).get("order_key") if records else None
        return key if isinstance(key, str) else None

    async def put_tombstone(
        self, document_id: str, order_key: str, collection: str = DEFAULT_COLLECTION
    ) -> None:
        """Upsert the document's tombstone (a point without vectors) with ``wait=True``."""
        payload = tombstone_payload(document_id, order_key, collection)
        await self._upsert_bare(tombstone_point_id(document_id, collection), payload)

    async def _upsert_bare(self, point_id: str, payload: dict[str, Any]) -> None:
        bare = models.PointStruct(id=point_id, vector={}, payload=payload)
        await self._call(self.client.upsert(self.collection, points=[bare], wait=True))

    async def count(self, collection: str, *, first_chunks: bool = False) -> int:
        """Count the collection's chunks (or chunk-0 points) exactly."""
        chunk = models.FieldCondition(
            key="chunk_index",
            match=models.MatchValue(value=0) if first_chunks else None,
            range=None if first_chunks else models.Range(gte=0),
        )
        condition = models.Filter(must=[in_collections([collection]), chunk])
        result = await self._call(
            self.client.count(self.collection, count_filter=condition, exact=True)
        )
        return result.count

    async def registered(self) -> dict[str, str]:
        """Scroll the registry points."""
        condition = models.Filter(
            must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=REGISTRY_FIELD))]
        )
        points = await self._scroll(condition, [REGISTRY_FIELD, "created_at"])
        return {str(p.payload[REGISTRY_FIELD]): str(p.payload.get("created_at")) for p in points}

    async def register(self, collection: str, created_at: str) -> None:
        """Upsert the collection's registry point with ``wait=True``."""
        payload = {REGISTRY_FIELD: collection, "created_at": created_at}
        await self._upsert_bare(registry_point_id(collection), payload)

    async def drop_collection(self, collection: str) -> int:
        """Delete the registry point, then every point of the collection by filter."""
        everything = models.Filter(must=[in_collections([collection])])
        await self.delete_points([registry_point_id(collection)])
        found = await self._call(
            self.client.count(self.collection, count_filter=everything, exact=True)
        )
        selector = models.FilterSelector(filter=everything)
        await self._call(self.client.delete(self.collection, points_selector=selector, wait=True))
        return found.count

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
                query_filter=server_filter(query.filter, query.collections),
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

    async def tenant_fields(self) -> set[str]:
        """Payload fields whose keyword index has ``is_tenant``, as the collection reports.

        qdrant-client's local mode keeps no payload indexes; there it reports the tenant
        indexes this adapter created (the server reports its own).
        """
        info = await self._call(self.client.get_collection(self.collection))
        schema = info.payload_schema or {}
        if not schema:
            return {f for f, kind in self._created.items() if kind == "tenant"}
        return {
            name
            for name, index in schema.items()
            if isinstance(index.params, models.KeywordIndexParams) and index.params.is_tenant
        }

    async def _create_indexes(self, fields: dict[str, str]) -> None:
        for field, schema in fields.items():
            if field not in self._indexed:
                params = _TENANT if schema == "tenant" else _SCHEMAS[schema]
                await self._call(
                    self.client.create_payload_index(
                        self.collection, field_name=field, field_schema=params, wait=True
                    )
                )
                self._indexed.add(field)
                self._created[field] = schema

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (ResponseHandlingException, UnexpectedResponse, OSError, TimeoutError) as exc:
            raise StoreUnavailableError(f"Qdrant server call failed: {exc}") from exc
