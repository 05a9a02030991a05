"""``VectorStore`` on Qdrant Edge: the Qdrant engine in-process, data under ``QDRANT_PATH``.

One process owns the shard folder. Every call into the engine is blocking, so it runs in
a worker thread (writes in one, reads in another: the shard is safe to share across
threads). Writes go through the shard's write-ahead log and are flushed before they
return, so a caller acknowledges only durable changes. Concurrent writes share one flush
(:class:`~lectern_indexer.batching.GroupCommit`): a flush costs about as much for one
point as for hundreds, so many small documents written at once flush once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe

from lectern.contracts import DEFAULT_COLLECTION, SearchMode
from lectern_indexer.batching import GroupCommit
from lectern_indexer.errors import StoreUnavailableError
from lectern_indexer.fusion import fused_search_blocking
from lectern_indexer.metrics import STORE_GROUP_WRITES
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
from lectern_indexer.stores.edge_mapping import (
    BOOL_SHADOW,
    edge_config,
    in_collections,
    nearest_request,
    with_bool_shadow,
)

T = TypeVar("T")
_SCHEMAS = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
}
_SCROLL_PAGE = 512
_TENANT = qe.KeywordIndexParams(is_tenant=True)


class QdrantEdgeStore:
    """Embedded Qdrant Edge shard.

    Args:
        path: shard folder; created with :func:`edge_config` when it holds no shard.
        timeout: seconds any single engine call may take before it counts as unavailable.
        config: shard config (tests lower the indexing threshold); default :func:`edge_config`.
        group_max_writes: most concurrent writes made durable by one flush.
        group_max_wait_s: longest wait, in seconds, for more writes to join a group.
    """

    kind = "qdrant-edge"

    def __init__(
        self,
        path: Path,
        *,
        timeout: float = 30.0,
        config: qe.EdgeConfig | None = None,
        group_max_writes: int = 64,
        group_max_wait_s: float = 0.0,
    ) -> None:
        self.path = path
        self.config = config or edge_config()
        self.timeout = timeout
        self._shard: qe.EdgeShard | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="edge-write")
        self.commits = GroupCommit(
            self._writer,
            self._flush,
            group_max_writes,
            observe=STORE_GROUP_WRITES.observe,
            max_wait_s=group_max_wait_s,
        )
        self._reader = ThreadPoolExecutor(2, thread_name_prefix="edge-read")
        self._indexed: set[str] = set()
        self.last_call = time.monotonic()
        """``time.monotonic()`` when the last engine call started (the optimiser's idle test)."""

    async def open(self) -> None:
        """Load the shard at ``path`` (or create it) and its payload indexes."""
        await self._write(self._open)

    def _open(self) -> None:
        if (self.path / "edge_config.json").exists() or any(self.path.glob("segments*")):
            # With the config: a shard made before the index settings takes them on.
            self._shard = qe.EdgeShard.load(str(self.path), self.config)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._shard = qe.EdgeShard.create(str(self.path), self.config)
        self._indexed = set(self._shard.info().payload_schema)
        wanted = {f: "keyword" for f in (*KEYWORD_FIELDS, REGISTRY_FIELD)}
        wanted |= {f: "integer" for f in INTEGER_FIELDS} | {COLLECTION_FIELD: "tenant"}
        self._create_indexes(wanted)
        self._shard.flush()

    async def close(self) -> None:
        """Flush, close the shard and stop the worker threads."""
        if self._shard is not None:
            shard, self._shard = self._shard, None

            def flush_and_close() -> None:
                shard.flush()
                shard.close()

            await self._write(flush_and_close)
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    async def ping(self) -> bool:
        """Whether the shard is open and answers ``info()``."""
        try:
            await self._read(lambda: self._require().info())
        except StoreUnavailableError:
            return False
        return True

    async def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Upsert points (creating metadata indexes first), then flush."""
        if not points:
            return
        edge_points = [
            qe.Point(
                p.id,
                {
                    DENSE_VECTOR: p.dense,
                    SPARSE_VECTOR: qe.SparseVector(p.sparse.indices, p.sparse.values),
                },
                with_bool_shadow(p.payload),
            )
            for p in points
        ]
        new_indexes = metadata_index_keys(points)
        for path, schema in list(new_indexes.items()):
            if schema == "bool":
                new_indexes[f"{BOOL_SHADOW}.{path.removeprefix('metadata.')}"] = "keyword"

        def write() -> None:
            self._create_indexes(new_indexes)
            self._require().update(qe.UpdateOperation.upsert_points(edge_points))

        await self._commit(write)

    async def document_points(
        self, document_id: str, collection: str = DEFAULT_COLLECTION
    ) -> list[StoredPoint]:
        """Scroll every point of ``document_id`` in ``collection`` (summary fields only)."""
        condition = qe.Filter(
            must=[
                in_collections([collection]),
                qe.FieldCondition("document_id", match=qe.MatchValue(document_id)),
            ]
        )
        return await self._read(lambda: self._scroll(condition, list(SUMMARY_FIELDS)))

    def _scroll(self, condition: qe.Filter, fields: list[str]) -> list[StoredPoint]:
        found: list[StoredPoint] = []
        offset: Any = None
        while True:
            records, offset = self._require().scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=_SCROLL_PAGE,
                    filter=condition,
                    with_payload=fields,
                    with_vector=False,
                )
            )
            found.extend(StoredPoint(str(r.id), dict(r.payload or {})) for r in records)
            if offset is None:
                return found

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete points by id, then flush."""
        if not point_ids:
            return
        ids: list[Any] = list(point_ids)

        def write() -> None:
            self._require().update(qe.UpdateOperation.delete_points(ids))

        await self._commit(write)

    async def tombstone(self, document_id: str, collection: str = DEFAULT_COLLECTION) -> str | None:
        """Read the order key of the document's tombstone point, if any."""
        point_id: Any = tombstone_point_id(document_id, collection)
        records = await self._read(lambda: self._require().retrieve([point_id], True, False))
        key = dict(records[0].payload or {}).get("order_key") if records else None
        return key if isinstance(key, str) else None

    async def put_tombstone(
        self, document_id: str, order_key: str, collection: str = DEFAULT_COLLECTION
    ) -> None:
        """Upsert the document's tombstone (a point without vectors), then flush."""
        payload = tombstone_payload(document_id, order_key, collection)
        await self._upsert_bare(tombstone_point_id(document_id, collection), payload)

    async def _upsert_bare(self, point_id: str, payload: dict[str, Any]) -> None:
        bare = qe.Point(point_id, {}, payload)

        def write() -> None:
            self._require().update(qe.UpdateOperation.upsert_points([bare]))

        await self._commit(write)

    async def count(self, collection: str, *, first_chunks: bool = False) -> int:
        """Count the collection's chunks (or chunk-0 points) exactly."""
        chunk = (
            qe.FieldCondition("chunk_index", match=qe.MatchValue(0))
            if first_chunks
            else qe.FieldCondition("chunk_index", range=qe.RangeFloat(gte=0))
        )
        condition = qe.Filter(must=[in_collections([collection]), chunk])
        return await self._read(lambda: self._require().count(qe.CountRequest(True, condition)))

    async def registered(self) -> dict[str, str]:
        """Scroll the registry points."""
        condition = qe.Filter(must_not=[qe.IsEmptyCondition(REGISTRY_FIELD)])
        points = await self._read(lambda: self._scroll(condition, [REGISTRY_FIELD, "created_at"]))
        return {str(p.payload[REGISTRY_FIELD]): str(p.payload.get("created_at")) for p in points}

    async def register(self, collection: str, created_at: str) -> None:
        """Upsert the collection's registry point, then flush."""
        payload = {REGISTRY_FIELD: collection, "created_at": created_at}
        await self._upsert_bare(registry_point_id(collection), payload)

    async def drop_collection(self, collection: str) -> int:
        """Delete the registry point, then every point of the collection by filter; flush."""
        everything = qe.Filter(must=[in_collections([collection])])
        registry: Any = registry_point_id(collection)

        def write() -> int:
            shard = self._require()
            shard.update(qe.UpdateOperation.delete_points([registry]))
            found = shard.count(qe.CountRequest(True, everything))
            shard.update(qe.UpdateOperation.delete_points_by_filter(everything))
            return found

        return await self._commit(write)

    async def set_payload(self, point_ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set payload keys on points, then flush."""
        if not point_ids:
            return
        ids: list[Any] = list(point_ids)

        def write() -> None:
            self._require().update(qe.UpdateOperation.set_payload(ids, with_bool_shadow(payload)))

        await self._commit(write)

    async def search(self, query: VectorQuery) -> list[ScoredPoint]:
        """Run the query; hybrid fetches both candidate lists and fuses them in our code.

        One reader job per search (:func:`~lectern_indexer.fusion.fused_search_blocking`):
        candidates come without payloads; the chunks kept get theirs in one ``retrieve``.
        """
        return await self._read(lambda: fused_search_blocking(self._nearest, query, self._payloads))

    def _nearest(self, query: VectorQuery, mode: SearchMode, limit: int) -> list[ScoredPoint]:
        request = nearest_request(query, mode, limit, with_payload=False)
        points = self._require().query(request)
        return [ScoredPoint(str(p.id), float(p.score), {}) for p in points]

    def _payloads(self, point_ids: list[str]) -> dict[str, dict[str, Any]]:
        ids: list[Any] = list(point_ids)
        records = self._require().retrieve(ids, True, False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    async def indexed_fields(self) -> set[str]:
        """Payload fields with an index, as the shard reports them."""
        return set(await self._read(lambda: self._require().info().payload_schema))

    async def tenant_fields(self) -> set[str]:
        """Payload fields whose keyword index has ``is_tenant``, as the shard reports them."""
        schema = await self._read(lambda: self._require().info().payload_schema)
        return {
            name
            for name, info in schema.items()
            if isinstance(info.params, qe.KeywordIndexParams) and info.params.is_tenant
        }

    def _create_indexes(self, fields: dict[str, str]) -> None:
        for field, schema in fields.items():
            if field not in self._indexed:
                params = _TENANT if schema == "tenant" else _SCHEMAS[schema]
                self._require().update(qe.UpdateOperation.create_field_index(field, params))
                self._indexed.add(field)

    async def index_state(self) -> tuple[int, int]:
        """``(chunks, dense vectors outside an HNSW graph)`` of the shard.

        ``indexed_vectors_count`` counts every sparse vector (the sparse index is always
        built) plus the dense vectors of segments with a graph; every chunk has both
        vectors and a ``chunk_index`` (tombstones and registry points have neither).
        """

        def state() -> tuple[int, int]:
            shard = self._require()
            chunks = shard.count(
                qe.CountRequest(
                    True,
                    qe.Filter(must=[qe.FieldCondition("chunk_index", range=qe.RangeFloat(gte=0))]),
                )
            )
            return chunks, max(0, 2 * chunks - shard.info().indexed_vectors_count)

        return await self._read(state)

    async def optimize(self) -> bool:
        """Run the engine's optimisers (merge, HNSW indexing, vacuum) until none plans more.

        Runs on the write thread, so never beside a write of ours, and without
        :attr:`timeout`: building a graph takes seconds per ~10k points. Qdrant Edge
        0.9 holds the GIL for the whole call, so the process (event loop included) pauses
        meanwhile; callers bound how much is pending (see ``edge_optimizer``).

        Returns:
            Whether any segment changed.

        Raises:
            StoreUnavailableError: the shard is closed, or the engine failed (its message).
        """
        loop = asyncio.get_running_loop()

        def optimize() -> bool:
            self.last_call = time.monotonic()
            return self._require().optimize()

        try:
            return await loop.run_in_executor(self._writer, optimize)
        except StoreUnavailableError:
            raise
        except Exception as exc:  # qdrant_edge raises a bare Exception subclass
            raise StoreUnavailableError(f"Qdrant Edge optimize failed: {exc}") from exc

    def _require(self) -> qe.EdgeShard:
        if self._shard is None:
            raise StoreUnavailableError("the Qdrant Edge shard is not open")
        return self._shard

    def _flush(self) -> None:
        """Flush the shard's writes to disk (writer thread; nothing to do once closed)."""
        if self._shard is not None:
            self._shard.flush()

    async def _write(self, call: Callable[[], T]) -> T:
        return await self._run(self._writer, call)

    async def _commit(self, call: Callable[[], T]) -> T:
        """Run a write in the writer thread; return once a (shared) flush made it durable."""
        return await self._guard(self.commits.write(call))

    async def _read(self, call: Callable[[], T]) -> T:
        return await self._run(self._reader, call)

    async def _run(self, executor: ThreadPoolExecutor, call: Callable[[], T]) -> T:
        return await self._guard(asyncio.get_running_loop().run_in_executor(executor, call))

    async def _guard(self, work: Awaitable[T]) -> T:
        """Await ``work`` within ``timeout``; engine errors become ``StoreUnavailableError``."""
        self.last_call = time.monotonic()  # the optimiser's idle test
        try:
            async with asyncio.timeout(self.timeout):
                return await work
        except TimeoutError as exc:
            raise StoreUnavailableError(f"Qdrant Edge call took over {self.timeout} s") from exc
        except (OSError, RuntimeError) as exc:
            raise StoreUnavailableError(f"Qdrant Edge failed: {exc}") from exc
