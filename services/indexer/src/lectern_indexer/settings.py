"""Indexer settings, read once from the environment at start-up.

Variable names are the upper-case field names (``QDRANT_PATH``, ``EMBED_BATCH_SIZE``...).
A bad value fails at start-up with pydantic's message, which names the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from lectern.contracts import FusionMethod
from lectern.settings import ConsumerServiceSettings
from lectern_indexer.fusion import DEFAULT_FUSION, FusionConfig


class IndexerSettings(ConsumerServiceSettings):
    """Settings of the indexer service.

    Attributes:
        qdrant_path: folder of the embedded Qdrant Edge shard (``QDRANT_PATH``); one
            process owns it.
        qdrant_url: Qdrant server URL (``QDRANT_URL``); when set, the server adapter is
            used instead of the embedded one.
        qdrant_api_key: API key for the Qdrant server (``QDRANT_API_KEY``), optional.
        qdrant_collection: collection name on the Qdrant server (``QDRANT_COLLECTION``).
        embedding_model_path: folder of the dense ONNX model (``EMBEDDING_MODEL_PATH``);
            ``None`` lets fastembed download ``sentence-transformers/all-MiniLM-L6-v2``.
        sparse_model_path: folder of the BM25 model files (``SPARSE_MODEL_PATH``);
            ``None`` lets fastembed download ``Qdrant/bm25``.
        max_document_bytes: largest document accepted, in UTF-8 bytes (5 MiB default).
        embed_batch_size: chunks embedded per model call (``EMBED_BATCH_SIZE``); smaller
            batches keep search latency low while a large document is ingested.
        query_threads: ONNX Runtime intra-op threads of the query embedding session
            (``QUERY_THREADS``); 1 spends the least CPU per query (see
            :mod:`lectern_indexer.embedding`).
        query_workers: query embeddings computed at once (``QUERY_WORKERS``).
        max_concurrent_documents: documents processed at once (``MAX_CONCURRENT_DOCUMENTS``),
            also the prefetch of each shard's command consumer. Documents in flight
            together share embedding batches and store flushes
            (:mod:`lectern_indexer.batching`), so many small documents need many in
            flight; on SIGTERM the admitted ones are finished within ``SHUTDOWN_GRACE_S``
            and the others go back to their queue.
        store_group_max_writes: most concurrent store writes made durable by one flush
            of the embedded store (``STORE_GROUP_MAX_WRITES``); each write is at most
            256 points (one document's chunks, a tombstone, a payload update).
        store_group_max_wait_ms: longest wait, in milliseconds, for more writes to join
            a group before it is flushed (``STORE_GROUP_MAX_WAIT_MS``; 0: flush at once).
            The Edge binding holds the GIL during a flush, so writes can only gather
            while a group waits; a lone document is delayed by at most this much.
        search_timeout: seconds a search may take in the indexer before it answers an
            error (``SEARCH_TIMEOUT``).
        rpc_prefetch: RPC requests held at once by this process (``RPC_PREFETCH``).
        chunk_max_tokens: word-piece budget per chunk including ``[CLS]``/``[SEP]``; 256
            is all-MiniLM-L6-v2's ``max_seq_length``.
        fusion: default hybrid fusion (``FUSION``): ``rrf``, ``weighted_rrf``, ``dbsf``
            or ``convex`` (see :mod:`lectern_indexer.fusion`); a request may pick another.
        rrf_k: the ``k`` of reciprocal-rank fusion (Cormack et al., SIGIR 2009, use 60).
        fusion_dense_weight: weight of the dense list in ``weighted_rrf``, ``dbsf`` and
            ``convex`` (``FUSION_DENSE_WEIGHT``).
        fusion_sparse_weight: weight of the sparse list (``FUSION_SPARSE_WEIGHT``).
        prefetch_limit: candidates fetched from each of dense and sparse before fusion.
        store_timeout: seconds a single vector-store call may take before it counts as
            a transient failure (``STORE_TIMEOUT``).
        qdrant_optimize: build Qdrant Edge's HNSW graphs as points arrive
            (``QDRANT_OPTIMIZE``, default off; see ``stores/edge_optimizer.py``). Off, every
            search is an exact scan (linear in the shard: ~25 ms dense at 100k points
            here). Off by default because qdrant-edge-py 0.9 holds the GIL for the whole
            ``optimize()``, pausing the indexer (searches, consumers, heartbeats) for the
            build: ~20 s at 10k points, 108-191 s at 100k on this 2-core machine
            (``bench/results/scaling-hnsw.md``). Large collections belong on a Qdrant
            server (``QDRANT_URL``), which optimises in the background.
        handling_record_dir: fault tests only (``HANDLING_RECORD_DIR``): record when
            each document is handled (:mod:`lectern_indexer.handling`); unset in
            production.
    """

    qdrant_path: Path = Path("data/qdrant")
    qdrant_url: AnyHttpUrl | None = None
    qdrant_api_key: str | None = None
    qdrant_collection: str = Field(
        default="lectern_chunks", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_-]+$"
    )
    embedding_model_path: Path | None = None
    sparse_model_path: Path | None = None
    max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1, le=512 * 1024 * 1024)
    embed_batch_size: int = Field(default=16, ge=1, le=512)
    query_threads: int = Field(default=1, ge=1, le=64)
    query_workers: int = Field(default=2, ge=1, le=64)
    max_concurrent_documents: int = Field(default=16, ge=1, le=64)
    store_group_max_writes: int = Field(default=64, ge=1, le=1024)
    store_group_max_wait_ms: float = Field(default=20.0, ge=0, le=1000)
    search_timeout: float = Field(default=5.0, gt=0, le=120)
    rpc_prefetch: int = Field(default=32, ge=1, le=1000)
    chunk_max_tokens: int = Field(default=256, ge=32, le=256)
    fusion: FusionMethod = DEFAULT_FUSION.method
    rrf_k: int = Field(default=DEFAULT_FUSION.rrf_k, ge=1, le=1000)
    fusion_dense_weight: float = Field(default=DEFAULT_FUSION.dense_weight, ge=0, le=100)
    fusion_sparse_weight: float = Field(default=DEFAULT_FUSION.sparse_weight, ge=0, le=100)
    prefetch_limit: int = Field(default=100, ge=1, le=1000)
    store_timeout: float = Field(default=30.0, gt=0, le=600)
    qdrant_optimize: bool = False
    handling_record_dir: Path | None = None

    @field_validator("embedding_model_path", "sparse_model_path")
    @classmethod
    def _model_folder_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"model folder {value} does not exist")
        return value

    @model_validator(mode="after")
    def _some_fusion_weight(self) -> IndexerSettings:
        if self.fusion_dense_weight + self.fusion_sparse_weight <= 0:
            raise ValueError("FUSION_DENSE_WEIGHT + FUSION_SPARSE_WEIGHT must be above 0")
        return self

    @property
    def fusion_config(self) -> FusionConfig:
        """The configured default fusion."""
        return FusionConfig(
            method=self.fusion,
            rrf_k=self.rrf_k,
            dense_weight=self.fusion_dense_weight,
            sparse_weight=self.fusion_sparse_weight,
        )

    @property
    def store_kind(self) -> str:
        """``"qdrant-server"`` when ``QDRANT_URL`` is set, else ``"qdrant-edge"``."""
        return "qdrant-server" if self.qdrant_url is not None else "qdrant-edge"
