"""Composition root of the indexer: broker, store, models and subscribers.

Nothing connects at import time: :func:`create_app` builds the FastStream application,
whose start-up hook loads the models, opens the store and connects the broker, and whose
after-start-up hook declares the topology; its shutdown stops admitting documents (those
not started go back to their queue unacknowledged), stops consuming, lets the admitted
ones finish (up to ``SHUTDOWN_GRACE_S``), then closes the store.
"""

from __future__ import annotations

import asyncio
import logging

from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from lectern import topology, tracing
from lectern.broker import FASTSTREAM_LOGGER, create_broker, declare_topology
from lectern.logging import get_logger
from lectern.message_metrics import rabbit_prometheus_middleware
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.consumers import CommandConsumer, RpcReply, answer_rpc
from lectern_indexer.embedding import Embedder, FastembedEmbedder
from lectern_indexer.handling import HandlingRecorder
from lectern_indexer.locks import Admission
from lectern_indexer.metrics import indexer_metrics, instrument_store
from lectern_indexer.service import IndexerService, SearchSettings
from lectern_indexer.settings import IndexerSettings
from lectern_indexer.stores import create_store
from lectern_indexer.stores.base import VectorStore
from lectern_indexer.stores.edge import QdrantEdgeStore
from lectern_indexer.stores.edge_optimizer import EdgeOptimizer

log = get_logger(__name__)

JSON_BODY_OVERHEAD_BYTES = 1024 * 1024
"""Allowance for the JSON envelope around a document's content, in bytes."""


async def _raw_body(message: RabbitMessage) -> bytes:
    """Decoder that hands the handler the undecoded body (invalid JSON is ours to judge)."""
    return bytes(message.body)


class IndexerRuntime:
    """Holds the indexer's resources between start-up and shutdown.

    Args:
        settings: the indexer settings.
        store: a vector store to use instead of the one the settings name (tests).
        embedder: an embedder to use instead of fastembed (tests).
    """

    def __init__(
        self,
        settings: IndexerSettings,
        *,
        store: VectorStore | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.broker: RabbitBroker = create_broker(
            str(settings.rabbitmq_url),
            graceful_timeout=settings.shutdown_grace_s,
            middlewares=tracing.tracing_middlewares(settings),
        )
        self.broker.add_middleware(rabbit_prometheus_middleware("lectern_indexer"))
        self.metrics = indexer_metrics(settings)
        raw_store = store or create_store(settings)
        self.optimizer = (
            EdgeOptimizer(raw_store)
            if isinstance(raw_store, QdrantEdgeStore) and settings.qdrant_optimize
            else None
        )
        self.store = instrument_store(raw_store)
        self.embedder = embedder or FastembedEmbedder(
            settings.embedding_model_path,
            settings.sparse_model_path,
            batch_size=settings.embed_batch_size,
            query_threads=settings.query_threads,
            query_workers=settings.query_workers,
        )
        self._service: IndexerService | None = None
        self._topology_ready = asyncio.Event()
        self._tracing = tracing.Tracing()
        self.admission = Admission(settings.max_concurrent_documents)
        self._recorder = (
            HandlingRecorder(settings.handling_record_dir)
            if settings.handling_record_dir is not None
            else None
        )
        self._register_subscribers()

    @property
    def service(self) -> IndexerService:
        """The service layer (available once :meth:`open` ran)."""
        if self._service is None:
            raise RuntimeError("the indexer is not started")
        return self._service

    async def open(self) -> None:
        """Load models, open the store and connect the broker (before subscribers start)."""
        settings = self.settings
        self._tracing = tracing.setup_tracing(settings, "lectern-indexer")
        if isinstance(self.embedder, FastembedEmbedder):
            await self.embedder.load()
        counter = WordPieceCounter.from_model_path(settings.embedding_model_path)
        await self.store.open()
        if self.optimizer is not None:
            self.optimizer.start()
        self._service = IndexerService(
            self.store,
            self.embedder,
            Chunker(counter, settings.chunk_max_tokens),
            max_document_bytes=settings.max_document_bytes,
            search=SearchSettings(
                fusion=settings.fusion_config,
                prefetch_limit=settings.prefetch_limit,
                timeout=settings.search_timeout,
            ),
        )
        await self.broker.connect()

    async def declare(self) -> None:
        """Declare the topology and retry queues, let commands through, serve metrics.

        Commands wait for this step, so events are only published once
        ``lectern.events`` and its bindings exist.
        """
        await declare_topology(
            str(self.settings.rabbitmq_url), indexer_shards=self.settings.indexer_shards
        )
        self._topology_ready.set()
        await self.metrics.start()
        log.info(
            "indexer.ready",
            store=self.store.kind,
            rabbitmq=_redact(str(self.settings.rabbitmq_url)),
        )

    async def stop_admitting(self) -> None:
        """Before the broker stops: finish admitted documents, hand the others back."""
        await self.admission.stop()

    async def close(self) -> None:
        """Close the store and the embedding workers (after the broker stopped)."""
        if self.optimizer is not None:
            await self.optimizer.stop()
        await self.store.close()
        await self.embedder.close()
        await self.metrics.stop()
        log.info("indexer.stopped")
        await self._tracing.close()

    def _register_subscribers(self) -> None:
        settings = self.settings
        max_body = 6 * settings.max_document_bytes + JSON_BODY_OVERHEAD_BYTES

        for queue in topology.indexer_shard_queues(settings.indexer_shards):
            self._subscribe_shard(queue, max_body)

        @self.broker.subscriber(
            topology.indexer_rpc_queue,
            channel=Channel(prefetch_count=settings.rpc_prefetch),
            ack_policy=AckPolicy.ACK_FIRST,
            decoder=_raw_body,
        )
        async def on_rpc(body: bytes) -> RpcReply:
            # The body, not ``message: RabbitMessage``: FastStream resolves that Context
            # field with a sync function, which FastDepends runs in a worker thread,
            # one thread hop (and, under load, a thread start) per request.
            return await answer_rpc(self.service, body, self.broker)

    def _subscribe_shard(self, queue: RabbitQueue, max_body: int) -> None:
        """Consume one shard queue (the broker delivers it to one replica at a time)."""

        @self.broker.subscriber(
            queue,
            channel=Channel(prefetch_count=self.settings.max_concurrent_documents),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            no_reply=True,
        )
        async def on_command(message: RabbitMessage) -> None:
            await self._topology_ready.wait()
            consumer = CommandConsumer(
                self.broker, self.service, max_body, queue.name, self._recorder
            )
            async with self.admission.slot() as admitted:
                if not admitted:  # shutting down: unacknowledged, redelivered elsewhere
                    log.info("command.handed_back", message_id=message.raw_message.message_id)
                    return
                await consumer.handle(message)


def create_app(settings: IndexerSettings, runtime: IndexerRuntime | None = None) -> FastStream:
    """Build the FastStream application of the indexer.

    Args:
        settings: the indexer settings.
        runtime: resources to use (tests inject fakes); built from ``settings`` if absent.

    Returns:
        The application; ``await app.run()`` serves until SIGINT/SIGTERM.
    """
    runtime = runtime or IndexerRuntime(settings)
    return FastStream(
        runtime.broker,
        logger=logging.getLogger(FASTSTREAM_LOGGER),
        on_startup=[runtime.open],
        after_startup=[runtime.declare],
        on_shutdown=[runtime.stop_admitting],
        after_shutdown=[runtime.close],
    )


def _redact(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}" if rest else url
