"""Service layer: ingest, delete and search documents (no messaging here).

Ingest follows the design's version rules: unchanged content is a no-op, a metadata-only
change rewrites payloads without embedding, new content writes every new chunk before
deleting the previous version's, so search never sees a document without chunks.

Ordering: every ingest and delete carries an order key (:func:`lectern.contracts.order_key`).
The chunks keep the key of the command that wrote them, a delete leaves a tombstone with
its key, and a command older than the newest key applied to its document is skipped and
reported as superseded (a retried old version, an ingest retried after a delete). The
read-then-write is serialised per document: within this process by a lock, across
replicas by the broker's routing (one shard queue per document, a single active
consumer per shard).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lectern import failpoints
from lectern.contracts import (
    DEFAULT_COLLECTION,
    DeleteDocument,
    FusionMethod,
    IngestDocument,
    MetadataFilter,
    PingResponse,
    SearchMode,
    SearchRequest,
    SearchResponse,
    utc_now,
)
from lectern.logging import get_logger
from lectern_indexer.chunking import Chunk, Chunker
from lectern_indexer.embedding import Embedder
from lectern_indexer.errors import InvalidDocumentError, InvalidRequestError, StoreUnavailableError
from lectern_indexer.fusion import DEFAULT_FUSION, FusionConfig
from lectern_indexer.locks import KeyedLock
from lectern_indexer.parsing import parse_document
from lectern_indexer.parsing.front_matter import document_metadata
from lectern_indexer.payloads import (
    chunk_payload,
    is_complete_version,
    is_superseded,
    last_applied_key,
    same_embedded_fields,
    search_hit,
)
from lectern_indexer.registry import CollectionRegistry
from lectern_indexer.stores.base import (
    METADATA_KEY,
    ChunkPoint,
    ScoredPoint,
    StoredPoint,
    VectorQuery,
    VectorStore,
    chunk_point_id,
)
from lectern_indexer.validation import validate_ingest

log = get_logger(__name__)

UPSERT_BATCH = 256
"""Points written per store call."""


@dataclass(frozen=True)
class IngestResult:
    """Outcome of an ingest.

    Attributes:
        document_id: the document.
        version: the content version now indexed.
        chunk_count: chunks of that version.
        unchanged: the version was already fully indexed with the same payload.
        duration_ms: wall time of the ingest in milliseconds.
        superseded: a newer command was already applied; nothing was written, and
            ``version`` is the command's, not the one indexed.
    """

    document_id: str
    version: str
    chunk_count: int
    unchanged: bool
    duration_ms: float
    superseded: bool = False


@dataclass(frozen=True)
class DeleteResult:
    """Outcome of a delete: points removed, or ``superseded`` by a newer command."""

    document_id: str
    deleted_points: int
    superseded: bool = False


@dataclass(frozen=True)
class SearchSettings:
    """Search tuning: hybrid fusion, candidates per vector, timeout in seconds."""

    fusion: FusionConfig = DEFAULT_FUSION
    prefetch_limit: int = 100
    timeout: float = 5.0


class IndexerService:
    """Ingest, delete and search over a :class:`VectorStore`.

    Args:
        store: the vector store (opened by the caller).
        embedder: dense + sparse embedder.
        chunker: structure-aware chunker.
        max_document_bytes: largest accepted document in UTF-8 bytes.
        search: search tuning.
    """

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        chunker: Chunker,
        *,
        max_document_bytes: int,
        search: SearchSettings | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.max_document_bytes = max_document_bytes
        self.search_settings = search or SearchSettings()
        self.registry = CollectionRegistry(store)
        self._locks = KeyedLock()

    async def ingest(self, command: IngestDocument) -> IngestResult:
        """Index ``command``'s document, idempotently.

        Raises:
            InvalidDocumentError: the command can never succeed (see
                :func:`~lectern_indexer.validation.validate_ingest`), its collection
                does not exist, or the document holds no indexable text.
            StoreUnavailableError: the store failed; retrying may succeed.
        """
        started = time.perf_counter()
        content = validate_ingest(command, self.max_document_bytes)
        if not await self.registry.exists(command.collection):
            raise InvalidDocumentError(f"collection {command.collection!r} does not exist")
        # Front matter is filterable metadata; the request's own metadata wins.
        command = command.model_copy(update={"metadata": document_metadata(command, content)})
        async with self._locks.hold(command.document_key):
            existing, applied = await self._applied(command.document_id, command.collection)
            if is_superseded(command.order_key, applied):
                log.info("document.superseded", document_id=command.document_id, applied=applied)
                return IngestResult(
                    document_id=command.document_id,
                    version=command.version,
                    chunk_count=0,
                    unchanged=False,
                    duration_ms=_ms_since(started),
                    superseded=True,
                )
            current = [p for p in existing if p.payload.get("version") == command.version]
            if is_complete_version(current) and same_embedded_fields(current[0], command):
                unchanged = await self._refresh_payload(current, command)
                chunk_count = len(current)
            else:
                chunk_count = await self._write_version(command, content)
                unchanged = False
            keep = {
                chunk_point_id(command.document_id, command.version, i, command.collection)
                for i in range(chunk_count)
            }
            await self.store.delete_points([p.id for p in existing if p.id not in keep])
        return IngestResult(
            document_id=command.document_id,
            version=command.version,
            chunk_count=chunk_count,
            unchanged=unchanged,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    async def delete(self, command: DeleteDocument) -> DeleteResult:
        """Delete every chunk of a document, leaving a tombstone with the command's key.

        The tombstone is written first, so a crash before the chunks are gone leaves a
        redelivery (same key) free to finish, and any older ingest superseded. A delete in
        a collection that does not exist (any more) removes nothing and leaves no tombstone.

        Raises:
            StoreUnavailableError: the store failed; retrying may succeed.
        """
        document_id, collection = command.document_id, command.collection
        if not await self.registry.exists(collection):
            return DeleteResult(document_id, 0)
        async with self._locks.hold(command.document_key):
            existing, applied = await self._applied(document_id, collection)
            if is_superseded(command.order_key, applied):
                log.info("document.superseded", document_id=document_id, applied=applied)
                return DeleteResult(document_id, 0, superseded=True)
            await self.store.put_tombstone(document_id, command.order_key, collection)
            await self.store.delete_points([p.id for p in existing])
        return DeleteResult(document_id, len(existing))

    async def search(self, request: SearchRequest) -> SearchResponse:
        """Answer a search request with its ``top_k`` best chunks.

        Raises:
            InvalidRequestError: a metadata filter key is not a plain identifier.
            StoreUnavailableError: the store failed or exceeded the search timeout.
        """
        started = time.perf_counter()
        points = await self.retrieve(
            request.query,
            request.mode,
            request.top_k,
            request.filter,
            fusion=request.fusion,
            collections=request.collections,
        )
        hits = [search_hit(p.id, p.score, p.payload) for p in points]
        if request.explain:
            hits = [
                hit.model_copy(update={"explain": p.explain})
                for hit, p in zip(hits, points, strict=True)
            ]
        return SearchResponse(hits=hits, latency_ms=_ms_since(started))

    async def retrieve(
        self,
        query: str,
        mode: SearchMode,
        limit: int,
        conditions: MetadataFilter | None = None,
        *,
        fusion: FusionMethod | None = None,
        collections: Sequence[str] | None = None,
    ) -> list[ScoredPoint]:
        """Embed ``query`` and return the ``limit`` best chunks (no upper bound on limit).

        ``collections`` restricts the chunks to those collections (``None``: every one).

        A query with no BM25 term (only stop words) runs dense-only in hybrid mode and
        returns nothing in sparse mode. ``fusion`` overrides the configured hybrid fusion
        method (its ``k`` and weights stay the configured ones). Chunks come by
        descending score, ties by point id, each with its explanation.

        Raises:
            InvalidRequestError: a metadata filter key is not a plain identifier.
            StoreUnavailableError: the store failed or exceeded the search timeout.
        """
        for key in (conditions.metadata or {}) if conditions else {}:
            if not METADATA_KEY.match(key):
                raise InvalidRequestError(
                    f"metadata filter key {key!r} is not [A-Za-z0-9_-]{{1,64}}"
                )
        settings = self.search_settings
        fusion_config = settings.fusion
        if fusion is not None:
            fusion_config = replace(fusion_config, method=fusion)
        try:
            async with asyncio.timeout(settings.timeout):
                embedding = await self.embedder.embed_query(query)
                if not embedding.sparse.indices:
                    if mode == "sparse":
                        return []
                    mode = "dense"
                return await self.store.search(
                    VectorQuery(
                        mode=mode,
                        dense=embedding.dense,
                        sparse=embedding.sparse,
                        limit=limit,
                        filter=conditions,
                        collections=None if collections is None else tuple(collections),
                        prefetch_limit=max(settings.prefetch_limit, limit),
                        fusion=fusion_config,
                    )
                )
        except TimeoutError as exc:
            raise StoreUnavailableError(f"search took over {settings.timeout} s") from exc

    async def ping(self) -> PingResponse:
        """Report this service and whether its store answers."""
        ok = await self.store.ping()
        return PingResponse(
            service="indexer",
            store=self.store.kind,
            store_ok=ok,
            detail=None if ok else "vector store unavailable",
        )

    async def _applied(
        self, document_id: str, collection: str = DEFAULT_COLLECTION
    ) -> tuple[list[StoredPoint], str | None]:
        """Read a document's points and tombstone at once; return the points and newest key."""
        existing, tombstone = await asyncio.gather(
            self.store.document_points(document_id, collection),
            self.store.tombstone(document_id, collection),
        )
        return existing, last_applied_key(existing, tombstone)

    async def _refresh_payload(self, current: list[StoredPoint], command: IngestDocument) -> bool:
        """Rewrite source/metadata when only they changed; return whether nothing did.

        The command's order key is written too when it is newer than the stored one,
        so an older command that arrives later is still recognised as superseded.
        """
        payload = current[0].payload
        same = (
            payload.get("source") == command.source and payload.get("metadata") == command.metadata
        )
        update: dict[str, object] = {}
        if not same:
            update = {
                "source": command.source,
                "metadata": dict(command.metadata),
                "indexed_at": utc_now().isoformat(),
            }
        if any(p.payload.get("order_key") != command.order_key for p in current):
            update["order_key"] = command.order_key
        if update:
            await self.store.set_payload([p.id for p in current], update)
        return same

    async def _write_version(self, command: IngestDocument, content: str) -> int:
        chunks = await asyncio.to_thread(self._chunk, command, content)
        if not chunks:
            raise InvalidDocumentError("the document holds no indexable text")
        embeddings = await self.embedder.embed_documents([c.embed_text for c in chunks])
        failpoints.raise_if("indexer.before-write", command.version)  # a transient fault
        indexed_at = utc_now().isoformat()
        points = [
            ChunkPoint(
                id=chunk_point_id(
                    command.document_id, command.version, chunk.index, command.collection
                ),
                dense=embedding.dense,
                sparse=embedding.sparse,
                payload=chunk_payload(command, chunk, len(chunks), indexed_at),
            )
            for chunk, embedding in zip(chunks, embeddings, strict=True)
        ]
        for start in range(0, len(points), UPSERT_BATCH):
            await self.store.upsert(points[start : start + UPSERT_BATCH])
        return len(points)

    def _chunk(self, command: IngestDocument, content: str) -> list[Chunk]:
        parsed = parse_document(content, command.format)
        return self.chunker.chunk(command.title, parsed)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
