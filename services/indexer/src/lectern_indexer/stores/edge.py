"""``VectorStore`` on Qdrant Edge: the Qdrant engine in-process, data under ``QDRANT_PATH``.

One process owns the shard folder. Every call into the engine is blocking, so it runs in
a worker thread (writes in one, reads in another: the shard is safe to share across
threads). Writes go through the shard's write-ahead log and are flushed before they
return, so a caller acknowledges only durable changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe

from lectern.contracts import SearchMode
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
from lectern_indexer.stores.edge_mapping import (
    BOOL_SHADOW,
    edge_config,
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


class QdrantEdgeStore:
    """Embedded Qdrant Edge shard.

    Args:
        path: shard folder; created with :func:`edge_config` when it holds no shard.
        timeout: seconds any single engine call may take before it counts as unavailable.
    """

    kind = "qdrant-edge"

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._shard: qe.EdgeShard | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="edge-write")
        self._reader = ThreadPoolExecutor(2, thread_name_prefix="edge-read")
        self._indexed: set[str] = set()

    async def open(self) -> None:
        """Load the shard at ``path`` (or create it) and its payload indexes."""
        await self._write(self._open)

    def _open(self) -> None:
        if (self.path / "edge_config.json").exists() or any(self.path.glob("segments*")):
            self._shard = qe.EdgeShard.load(str(self.path))
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._shard = qe.EdgeShard.create(str(self.path), edge_config())
        self._indexed = set(self._shard.info().payload_schema)
        wanted = {f: "keyword" for f in KEYWORD_FIELDS} | {f: "integer" for f in INTEGER_FIELDS}
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
            self._require().flush()

        await self._write(write)

    async def document_points(self, document_id: str) -> list[StoredPoint]:
        """Scroll every point of ``document_id`` (summary payload fields only)."""
        condition = qe.Filter(
            must=[qe.FieldCondition("document_id", match=qe.MatchValue(document_id))]
        )

        def scroll() -> list[StoredPoint]:
            found: list[StoredPoint] = []
            offset: Any = None
            while True:
                records, offset = self._require().scroll(
                    qe.ScrollRequest(
                        offset=offset,
                        limit=_SCROLL_PAGE,
                        filter=condition,
                        with_payload=list(SUMMARY_FIELDS),
                        with_vector=False,
                    )
                )
                found.extend(StoredPoint(str(r.id), dict(r.payload or {})) for r in records)
                if offset is None:
                    return found

        return await self._read(scroll)

    async def delete_points(self, point_ids: Sequence[str]) -> None:
        """Delete points by id, then flush."""
        if not point_ids:
            return
        ids: list[Any] = list(point_ids)

        def write() -> None:
            self._require().update(qe.UpdateOperation.delete_points(ids))
            self._require().flush()

        await self._write(write)

    async def tombstone(self, document_id: str) -> str | None:
        """Read the order key of the document's tombstone point, if any."""
        point_id: Any = tombstone_point_id(document_id)
        records = await self._read(lambda: self._require().retrieve([point_id], True, False))
        key = dict(records[0].payload or {}).get("order_key") if records else None
        return key if isinstance(key, str) else None

    async def put_tombstone(self, document_id: str, order_key: str) -> None:
        """Upsert the document's tombstone (a point without vectors), then flush."""
        tombstone = qe.Point(
            tombstone_point_id(document_id),
            {},
            {TOMBSTONE_FIELD: document_id, "order_key": order_key},
        )

        def write() -> None:
            self._require().update(qe.UpdateOperation.upsert_points([tombstone]))
            self._require().flush()

        await self._write(write)

    async def set_payload(self, point_ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set payload keys on points, then flush."""
        if not point_ids:
            return
        ids: list[Any] = list(point_ids)

        def write() -> None:
            self._require().update(qe.UpdateOperation.set_payload(ids, with_bool_shadow(payload)))
            self._require().flush()

        await self._write(write)

    async def search(self, query: VectorQuery) -> list[ScoredPoint]:
        """Run the query; hybrid fetches both candidate lists and fuses them in our code."""
        return await fused_search(self._nearest, query)

    async def _nearest(self, query: VectorQuery, mode: SearchMode, limit: int) -> list[ScoredPoint]:
        request = nearest_request(query, mode, limit)
        points = await self._read(lambda: self._require().query(request))
        return [ScoredPoint(str(p.id), float(p.score), dict(p.payload or {})) for p in points]

    async def indexed_fields(self) -> set[str]:
        """Payload fields with an index, as the shard reports them."""
        return set(await self._read(lambda: self._require().info().payload_schema))

    def _create_indexes(self, fields: dict[str, str]) -> None:
        for field, schema in fields.items():
            if field not in self._indexed:
                self._require().update(
                    qe.UpdateOperation.create_field_index(field, _SCHEMAS[schema])
                )
                self._indexed.add(field)

    def _require(self) -> qe.EdgeShard:
        if self._shard is None:
            raise StoreUnavailableError("the Qdrant Edge shard is not open")
        return self._shard

    async def _write(self, call: Callable[[], T]) -> T:
        return await self._run(self._writer, call)

    async def _read(self, call: Callable[[], T]) -> T:
        return await self._run(self._reader, call)

    async def _run(self, executor: ThreadPoolExecutor, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                return await loop.run_in_executor(executor, call)
        except TimeoutError as exc:
            raise StoreUnavailableError(f"Qdrant Edge call took over {self.timeout} s") from exc
        except (OSError, RuntimeError) as exc:
            raise StoreUnavailableError(f"Qdrant Edge failed: {exc}") from exc
