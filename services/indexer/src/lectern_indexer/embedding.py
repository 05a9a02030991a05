"""Dense and sparse embeddings with fastembed, computed off the event loop.

Dense: ``sentence-transformers/all-MiniLM-L6-v2`` (384 floats, L2-normalised, for cosine).
Sparse: ``Qdrant/bm25`` term frequencies; the store applies IDF (Qdrant ``Modifier.IDF``).
Model calls run in dedicated worker threads: one for documents, a small pool for queries,
so a search is never queued behind a large ingest (ONNX Runtime sessions are thread-safe).
Document texts of concurrent ingests share model calls (:class:`~lectern_indexer.batching.
TextBatcher`), so many one-chunk documents still make full batches.

Queries have a dense ONNX session of their own with one intra-op thread by default. A
query is a few dozen word pieces: an intra-op pool over every core (ONNX Runtime's
default, right for document batches) spends more time spinning and handing work between
its threads than computing, and on cores shared with the gateway and RabbitMQ it burns
about twice the CPU of one thread for the same query (bench: 19-24 ms vs 9-10 ms of CPU
per SciFact query on this 2-core machine, and twice the latency). Parallelism for queries
comes from several query workers instead, one single-threaded model call each; every
query is still embedded alone (batch of one), so its vector, and the ranking, never
depend on which other queries arrived at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastembed import SparseTextEmbedding, TextEmbedding

from lectern_indexer.batching import TextBatcher
from lectern_indexer.metrics import embedding_batch

DENSE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SPARSE_MODEL = "Qdrant/bm25"
DENSE_DIMENSIONS = 384


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector: parallel lists of dimension ids and weights."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class Embedding:
    """Both representations of one text.

    Attributes:
        dense: ``list[float]`` of length 384, unit length.
        sparse: BM25 term weights (document side) or ones (query side).
    """

    dense: list[float]
    sparse: SparseVector


class Embedder(Protocol):
    """What the service needs from an embedding model."""

    async def embed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        """Embed chunk texts, in order."""
        ...

    async def embed_query(self, text: str) -> Embedding:
        """Embed a search query."""
        ...

    async def embed_dense(self, texts: Sequence[str]) -> list[list[float]]:
        """Dense vectors only (unit length, 384 floats each), on the query worker."""
        ...

    async def close(self) -> None:
        """Release worker threads."""
        ...


class FastembedEmbedder:
    """fastembed models behind worker threads: one for documents, a pool for queries.

    The dense model is loaded twice (about 90 MB each): a document session with
    ``threads`` intra-op threads and a query session with ``query_threads``.

    Args:
        dense_model_path: folder of the ONNX model, or ``None`` to download it.
        sparse_model_path: folder of the BM25 files, or ``None`` to download them.
        batch_size: texts per model call, gathered across concurrent callers; small
            batches keep the model's threads free for queries between batches.
        threads: ONNX Runtime intra-op threads of the document session (``None``: all
            cores).
        query_threads: intra-op threads of the query session (``QUERY_THREADS``).
        query_workers: query embeddings computed at once (``QUERY_WORKERS``).
    """

    def __init__(
        self,
        dense_model_path: Path | None,
        sparse_model_path: Path | None,
        *,
        batch_size: int = 16,
        threads: int | None = None,
        query_threads: int | None = 1,
        query_workers: int = 2,
    ) -> None:
        self._dense_path = dense_model_path
        self._sparse_path = sparse_model_path
        self._threads = threads
        self._query_threads = query_threads
        self.batch_size = batch_size
        self._documents = ThreadPoolExecutor(1, thread_name_prefix="embed-documents")
        self._queries = ThreadPoolExecutor(query_workers, thread_name_prefix="embed-queries")
        self._dense: Any = None
        self._dense_queries: Any = None
        self._sparse: Any = None
        self._batcher = TextBatcher(self._embed_in_worker, batch_size)

    async def load(self) -> None:
        """Load both models (a few hundred milliseconds from local files)."""
        await asyncio.get_running_loop().run_in_executor(self._documents, self._load)

    def _load(self) -> None:
        dense_kwargs: dict[str, Any] = {}
        if self._dense_path is not None:
            dense_kwargs["specific_model_path"] = str(self._dense_path)
        sparse_kwargs: dict[str, Any] = {}
        if self._sparse_path is not None:
            sparse_kwargs["specific_model_path"] = str(self._sparse_path)
        self._dense = TextEmbedding(DENSE_MODEL, threads=self._threads, **dense_kwargs)
        self._dense_queries = TextEmbedding(
            DENSE_MODEL, threads=self._query_threads, **dense_kwargs
        )
        self._sparse = SparseTextEmbedding(SPARSE_MODEL, **sparse_kwargs)

    async def embed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        """Embed ``texts`` in batches of ``batch_size``, shared with concurrent callers.

        Returns:
            One :class:`Embedding` per text, in order.
        """
        return await self._batcher.submit(texts)

    async def _embed_in_worker(self, texts: list[str]) -> list[Embedding]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._documents, self._embed_batch, texts)

    async def embed_query(self, text: str) -> Embedding:
        """Embed one query (dense vector and BM25 query terms)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._queries, self._embed_query, text
        )

    async def embed_dense(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts`` densely on the query worker, so scoring never waits for ingest.

        Returns:
            One ``list[float]`` of length 384 (unit length) per text, in order.
        """
        return await asyncio.get_running_loop().run_in_executor(
            self._queries, self._embed_dense, list(texts)
        )

    async def close(self) -> None:
        """Stop the worker threads (waits for a running batch)."""
        self._documents.shutdown(wait=True, cancel_futures=True)
        self._queries.shutdown(wait=True, cancel_futures=True)

    def _require(self) -> tuple[Any, Any]:
        if self._dense is None or self._sparse is None:
            raise RuntimeError("FastembedEmbedder.load() was not awaited")
        return self._dense, self._sparse

    def intra_op_threads(self) -> dict[str, int]:
        """ONNX Runtime intra-op threads of the ``documents`` and ``queries`` sessions.

        ``0`` is ONNX Runtime's default (one per core). Raises ``RuntimeError`` before
        :meth:`load`.
        """
        dense, _ = self._require()
        queries, _ = self._require_query()
        return {
            name: int(model.model.model.get_session_options().intra_op_num_threads)
            for name, model in (("documents", dense), ("queries", queries))
        }

    def _require_query(self) -> tuple[Any, Any]:
        _, sparse = self._require()
        return self._dense_queries, sparse

    @embedding_batch("documents")
    def _embed_batch(self, texts: list[str]) -> list[Embedding]:
        dense_model, sparse_model = self._require()
        dense = list(dense_model.embed(texts, batch_size=len(texts)))
        sparse = list(sparse_model.embed(texts, batch_size=len(texts)))
        return [_embedding(d, s) for d, s in zip(dense, sparse, strict=True)]

    @embedding_batch("sentences")
    def _embed_dense(self, texts: list[str]) -> list[list[float]]:
        dense_model, _ = self._require_query()
        return [[float(x) for x in v] for v in dense_model.embed(texts, batch_size=len(texts))]

    @embedding_batch("queries")
    def _embed_query(self, text: str) -> Embedding:
        dense_model, sparse_model = self._require_query()
        dense = next(iter(dense_model.query_embed(text)))
        sparse = next(iter(sparse_model.query_embed(text)))
        return _embedding(dense, sparse)


def _embedding(dense: Any, sparse: Any) -> Embedding:
    return Embedding(
        dense=[float(x) for x in dense],
        sparse=SparseVector(
            indices=[int(i) for i in sparse.indices], values=[float(v) for v in sparse.values]
        ),
    )
