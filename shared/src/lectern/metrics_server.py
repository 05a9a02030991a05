"""Prometheus plumbing of the consumer services: an HTTP port and queue depths.

- :class:`MetricsServer` serves the default ``prometheus_client`` registry on
  ``METRICS_HOST:METRICS_PORT`` from a daemon thread (``prometheus_client``'s own
  server), started and stopped in the service's lifespan.
- :class:`QueueDepthSampler` passively declares a list of queues every
  ``QUEUE_DEPTH_INTERVAL_S`` on a connection of its own and sets
  ``lectern_queue_messages_ready`` / ``lectern_queue_consumers``; a broker hiccup is a
  warning and a counted failure, never a crash.

Per-queue message metrics come from FastStream (:mod:`lectern.message_metrics`).

No business logic here: which queues and which port is the service's choice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aio_pika.abc import AbstractConnection
from prometheus_client import Counter, Gauge, start_http_server

from lectern.broker import connect
from lectern.logging import get_logger

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = get_logger(__name__)

QUEUE_MESSAGES_READY = Gauge(
    "lectern_queue_messages_ready",
    "Messages ready for delivery in the queue at the last sample (passive declare).",
    ["queue"],
)
QUEUE_CONSUMERS = Gauge(
    "lectern_queue_consumers",
    "Consumers of the queue at the last sample (passive declare).",
    ["queue"],
)
QUEUE_SAMPLE_FAILURES = Counter(
    "lectern_queue_depth_sample_failures",
    "Queue-depth samples that failed (broker unreachable, or the queue does not exist).",
    ["queue"],
)


class MetricsServer:
    """The default registry over HTTP (``GET /metrics``, any path), in a daemon thread.

    Args:
        port: TCP port (1-65535).
        host: address to bind (``0.0.0.0`` so a scraper on the pod network reaches it).
    """

    def __init__(self, port: int, host: str = "0.0.0.0") -> None:
        self._port = port
        self._host = host
        self._server: WSGIServer | None = None

    @property
    def port(self) -> int:
        """The bound port (equal to the requested one once started)."""
        return self._server.server_port if self._server is not None else self._port

    def start(self) -> None:
        """Bind and serve.

        Raises:
            OSError: the port is taken or not allowed.
        """
        self._server, _ = start_http_server(self._port, addr=self._host)
        log.info("metrics.serving", host=self._host, port=self.port)

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class QueueDepthSampler:
    """Samples queue depths into :data:`QUEUE_MESSAGES_READY` on an interval.

    Args:
        url: AMQP URL (the service's own ``RABBITMQ_URL``).
        queues: names of the queues to sample.
        interval_s: seconds between samples.
    """

    def __init__(self, url: str, queues: Sequence[str], interval_s: float = 15.0) -> None:
        self._url = url
        self._queues = list(queues)
        self._interval_s = interval_s
        self._connection: AbstractConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling in a background task (inside the running event loop)."""
        self._task = asyncio.create_task(self._run(), name="lectern-queue-depth")

    async def stop(self) -> None:
        """Stop sampling and close the sampler's connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    async def sample(self) -> None:
        """Take one sample of every queue; failures are logged and counted, not raised."""
        try:
            if self._connection is None or self._connection.is_closed:
                self._connection = await connect(self._url, timeout=5.0)
        except Exception as exc:
            log.warning("metrics.queue_depth_unavailable", error=repr(exc))
            for queue in self._queues:
                QUEUE_SAMPLE_FAILURES.labels(queue).inc()
            return
        for queue in self._queues:
            await self._sample_one(self._connection, queue)

    async def _sample_one(self, connection: AbstractConnection, queue: str) -> None:
        # A passive declare of a missing queue closes its channel: one channel each.
        try:
            async with asyncio.timeout(5.0):
                channel = await connection.channel(publisher_confirms=False)
                async with channel:
                    declared = await channel.declare_queue(queue, passive=True)
        except Exception as exc:
            log.warning("metrics.queue_depth_failed", queue=queue, error=repr(exc))
            QUEUE_SAMPLE_FAILURES.labels(queue).inc()
            return
        result = declared.declaration_result
        QUEUE_MESSAGES_READY.labels(queue).set(int(result.message_count or 0))
        QUEUE_CONSUMERS.labels(queue).set(int(result.consumer_count or 0))

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self._interval_s)


class ServiceMetrics:
    """A consumer service's metrics port and queue sampler, off when ``port`` is ``None``.

    Args:
        port: ``METRICS_PORT``; ``None`` serves nothing and samples nothing.
        host: ``METRICS_HOST``.
        amqp_url: AMQP URL for the queue sampler.
        queues: queues whose depth this service reports.
        interval_s: ``QUEUE_DEPTH_INTERVAL_S``.
    """

    def __init__(
        self,
        port: int | None,
        host: str,
        amqp_url: str,
        queues: Sequence[str],
        interval_s: float,
    ) -> None:
        self.server = MetricsServer(port, host) if port is not None else None
        self.sampler = QueueDepthSampler(amqp_url, queues, interval_s) if port is not None else None

    async def start(self) -> None:
        """Serve the port and start sampling (call inside the running loop).

        Raises:
            OSError: the metrics port cannot be bound.
        """
        if self.server is not None:
            self.server.start()
        if self.sampler is not None:
            self.sampler.start()

    async def stop(self) -> None:
        """Stop sampling and serving (idempotent)."""
        if self.sampler is not None:
            await self.sampler.stop()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)  # waits for the serving loop to end
