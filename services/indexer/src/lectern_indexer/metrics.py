"""Prometheus metrics of the indexer (default ``prometheus_client`` registry).

Served on ``METRICS_PORT`` by :class:`lectern.metrics_server.ServiceMetrics`, together
with FastStream's per-queue message metrics (``lectern_indexer_received_*``) and the
queue depths. Instrumentation stays out of the adapters: :func:`instrument_store`
wraps whatever :class:`~lectern_indexer.stores.base.VectorStore` the runtime uses, and
:func:`embedding_batch` decorates the embedder's model calls.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from prometheus_client import Counter, Histogram

from lectern import topology
from lectern.contracts import IngestDocument, utc_now
from lectern.metrics_server import ServiceMetrics

if TYPE_CHECKING:  # the stores import the embedder, which imports this module
    from lectern_indexer.settings import IndexerSettings
    from lectern_indexer.stores.base import VectorStore

F = TypeVar("F", bound=Callable[..., Any])

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Seconds; store calls and model batches span about 1 ms to tens of seconds."""

EMBEDDING_BATCH_SECONDS = Histogram(
    "lectern_indexer_embedding_batch_duration_seconds",
    "Duration of one embedding-model call (dense and sparse for documents), by worker "
    "(documents, queries, sentences).",
    ["worker"],
    buckets=LATENCY_BUCKETS,
)
EMBEDDING_BATCH_SIZE = Histogram(
    "lectern_indexer_embedding_batch_size",
    "Texts per embedding-model call, by worker.",
    ["worker"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
QDRANT_SECONDS = Histogram(
    "lectern_indexer_qdrant_request_duration_seconds",
    "Duration of one vector-store call, by operation (upsert, search, delete_points...) "
    "and outcome (ok, error).",
    ["operation", "outcome"],
    buckets=LATENCY_BUCKETS,
)
STORE_GROUP_WRITES = Histogram(
    "lectern_indexer_store_group_writes",
    "Writes made durable by one flush of the embedded store (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
INGEST_LAG_SECONDS = Histogram(
    "lectern_indexer_ingest_lag_seconds",
    "From the gateway accepting a document (DocumentAccepted.occurred_at, the command's "
    "occurred_at) to its chunks being durable in the store.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
COMMANDS = Counter(
    "lectern_indexer_commands",
    "Commands applied to the store, by command (ingest, delete) and outcome (indexed, "
    "unchanged, superseded, deleted).",
    ["command", "outcome"],
)
DEAD_LETTERED = Counter(
    "lectern_indexer_dead_lettered",
    "Commands this process dead-lettered (rejected without requeue), by shard queue.",
    ["queue"],
)
RETRIES = Counter(
    "lectern_indexer_retries_scheduled",
    "Commands republished to a back-off tier after a transient failure, by shard queue.",
    ["queue"],
)

STORE_OPERATIONS = frozenset(
    {
        "upsert",
        "search",
        "document_points",
        "delete_points",
        "tombstone",
        "put_tombstone",
        "set_payload",
        "ping",
    }
)
"""Vector-store methods that are timed (each is one call to Qdrant)."""


def embedding_batch(worker: str) -> Callable[[F], F]:
    """Decorate a synchronous model call ``(self, texts)`` to time it and count its texts.

    Args:
        worker: ``documents``, ``queries`` or ``sentences``; a ``str`` argument counts
            as one text.
    """

    def decorate(call: F) -> F:
        @functools.wraps(call)
        def timed(self: Any, texts: Any, *args: Any, **kwargs: Any) -> Any:
            EMBEDDING_BATCH_SIZE.labels(worker).observe(1 if isinstance(texts, str) else len(texts))
            with EMBEDDING_BATCH_SECONDS.labels(worker).time():
                return call(self, texts, *args, **kwargs)

        return cast(F, timed)

    return decorate


class _TimedStore:
    """Delegates to a vector store, timing the calls named in :data:`STORE_OPERATIONS`."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in STORE_OPERATIONS:
            return attribute

        @functools.wraps(attribute)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await attribute(*args, **kwargs)
                outcome = "ok"
                return result
            finally:
                QDRANT_SECONDS.labels(name, outcome).observe(time.perf_counter() - started)

        return timed


def instrument_store(store: VectorStore) -> VectorStore:
    """Wrap ``store`` so each Qdrant call lands in :data:`QDRANT_SECONDS`.

    Every other attribute (``kind``, methods added later) passes through unchanged.
    """
    return cast("VectorStore", _TimedStore(store))


def observe_ingest(command: IngestDocument, *, unchanged: bool, superseded: bool) -> None:
    """Count an applied ingest and, when chunks were written or refreshed, its lag."""
    outcome = "superseded" if superseded else "unchanged" if unchanged else "indexed"
    COMMANDS.labels("ingest", outcome).inc()
    if not superseded:
        INGEST_LAG_SECONDS.observe(max(0.0, (utc_now() - command.occurred_at).total_seconds()))


def indexer_metrics(settings: IndexerSettings) -> ServiceMetrics:
    """The indexer's metrics port and the queues it samples: its shards, their DLQs, RPC."""
    shards = [q.name for q in topology.indexer_shard_queues(settings.indexer_shards)]
    queues = [*shards, *map(topology.dlq_name, shards), topology.INDEXER_RPC_QUEUE]
    return ServiceMetrics(
        settings.metrics_port,
        settings.metrics_host,
        str(settings.rabbitmq_url),
        queues,
        settings.queue_depth_interval_s,
    )
