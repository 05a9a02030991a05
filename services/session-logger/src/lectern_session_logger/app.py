"""Composition root of the session-logger: broker, consumers, pool, batcher, upkeep.

Nothing connects at import time: :func:`create_app` wires the FastStream app, and its
lifespan opens the asyncpg pool, runs partition upkeep once, starts the batcher,
connects the broker, declares the topology and starts the event consumer. FastStream
serves the RPC reads; the event consumer is plain aio-pika (see
:mod:`lectern_session_logger.consumer` for why). On SIGTERM FastStream stops the RPC
subscriber, then the lifespan stops the event consumer (no new deliveries; held
messages commit and are acknowledged within ``SHUTDOWN_GRACE_S``), the batcher, the
upkeep task and the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from faststream import FastStream
from faststream.rabbit import Channel, RabbitBroker, RabbitResponse
from faststream.rabbit.message import RabbitMessage

from lectern import topology, tracing
from lectern.broker import create_broker, declare_topology
from lectern.logging import get_logger
from lectern.message_metrics import rabbit_prometheus_middleware
from lectern_session_logger.batching import Batcher
from lectern_session_logger.consumer import EventConsumer
from lectern_session_logger.db import create_pool
from lectern_session_logger.events import StoredEvent
from lectern_session_logger.maintenance import maintenance_loop, maintenance_once
from lectern_session_logger.metrics import PREFIX, session_logger_metrics
from lectern_session_logger.read_store import ReadStore
from lectern_session_logger.rpc_server import ReadServer
from lectern_session_logger.settings import SessionLoggerSettings
from lectern_session_logger.store import PostgresEventRepository
from lectern_session_logger.writer import Rejection, ResilientWriter

log = get_logger(__name__)

REPLY_TIMEOUT_S = 5.0
"""Seconds to wait for the broker to confirm an RPC reply."""


@dataclass
class Runtime:
    """What the lifespan opens and the RPC handler uses (filled in at start-up)."""

    reads: ReadServer | None = None


def create_app(settings: SessionLoggerSettings) -> FastStream:
    """Build the FastStream app (not started) for ``settings``."""
    faststream_logger = logging.getLogger("lectern_session_logger.faststream")
    broker = create_broker(
        str(settings.rabbitmq_url),
        graceful_timeout=settings.shutdown_grace_s,
        logger=faststream_logger,
        log_level=logging.DEBUG,  # FastStream's per-message "Received"/"Processed" lines
        apply_types=False,  # handlers take the message itself (see `whole_message`)
        middlewares=tracing.tracing_middlewares(settings),
    )
    broker.add_middleware(rabbit_prometheus_middleware(PREFIX))
    runtime = Runtime()
    register_rpc(broker, settings, runtime)

    @contextlib.asynccontextmanager
    async def app_lifespan() -> AsyncIterator[None]:
        async with lifespan(broker, settings, runtime):
            yield

    return FastStream(broker, lifespan=app_lifespan, logger=faststream_logger)


async def whole_message(message: RabbitMessage) -> RabbitMessage:
    """FastStream decoder that hands the handler the message itself, not its body.

    With ``apply_types=False`` FastStream calls a handler with the decoded body; this
    decoder makes that the :class:`RabbitMessage`, so the handler reads the raw bytes.
    It replaces FastStream's dependency injection on purpose: resolving a
    ``Context("message")`` parameter runs in a worker thread per message.
    """
    return message


def register_rpc(broker: RabbitBroker, settings: SessionLoggerSettings, runtime: Runtime) -> None:
    """Subscribe the read server to ``session-logger.rpc``."""

    @broker.subscriber(
        topology.session_logger_rpc_queue,
        channel=Channel(prefetch_count=settings.rpc_prefetch),
        decoder=whole_message,
        title="session-logger.rpc",
        description="Reads: ping, session history, document status and list, analytics.",
    )
    async def on_read(message: RabbitMessage) -> RabbitResponse:
        assert runtime.reads is not None
        reply = await runtime.reads.handle(message.body)
        return RabbitResponse(
            reply.model_dump_json().encode(),
            content_type="application/json",
            timeout=REPLY_TIMEOUT_S,
        )


@contextlib.asynccontextmanager
async def lifespan(
    broker: RabbitBroker, settings: SessionLoggerSettings, runtime: Runtime
) -> AsyncIterator[None]:
    """Open the pool and workers, connect the broker; close everything in reverse."""
    process_tracing = tracing.setup_tracing(settings, "lectern-session-logger")
    pool = await create_pool(settings)
    repository = PostgresEventRepository(
        pool, retention_days=settings.retention_days, ahead_days=settings.partitions_ahead_days
    )
    writer = ResilientWriter(repository)
    batcher: Batcher[StoredEvent, Rejection] = Batcher(
        writer.write, max_size=settings.batch_size, max_wait_s=settings.batch_max_wait_ms / 1000
    )
    consumer = EventConsumer(str(settings.rabbitmq_url), batcher, prefetch=settings.prefetch_count)
    runtime.reads = ReadServer(ReadStore(pool), lambda: writer.health, consumer.dead_letter_depth)
    await maintenance_once(pool, settings, repository.forget_days)
    upkeep = asyncio.create_task(maintenance_loop(pool, settings, repository.forget_days))
    batcher.start()
    metrics = session_logger_metrics(settings)
    try:
        await broker.connect()
        await declare_topology(str(settings.rabbitmq_url), indexer_shards=settings.indexer_shards)
        await consumer.start()
        await metrics.start()
        log.info("session_logger.started", batch_size=settings.batch_size)
        yield
    finally:
        await metrics.stop()
        await consumer.stop(settings.shutdown_grace_s)
        await batcher.close()
        upkeep.cancel()
        await asyncio.gather(upkeep, return_exceptions=True)
        await pool.close()
        log.info("session_logger.stopped")
        await process_tracing.close()
