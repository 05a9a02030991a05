"""Prometheus metrics for the consumer services: an HTTP endpoint and shared helpers.

The gateway serves ``/metrics`` through Litestar; the indexer and the session-logger have
no HTTP API, so each serves its registry on ``METRICS_PORT`` with prometheus_client's own
threaded HTTP server (``start_http_server``), started and stopped in the service's
lifespan. Names follow Prometheus conventions (base units, ``_total`` counters,
``_seconds`` histograms; prometheus.io "Metric and label naming").

:class:`QueueDepthSampler` keeps a gauge of queue depths by passively declaring the
queues on a short-lived channel every ``interval_s`` seconds, so an operator sees backlog
from the service itself even without RabbitMQ's own Prometheus plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from wsgiref.simple_server import WSGIServer

import aio_pika
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, start_http_server

from lectern.logging import get_logger

log = get_logger(__name__)

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
"""Histogram buckets in seconds for handler, store and embedding latencies."""


class MetricsServer:
    """Serve ``registry`` on ``http://host:port/metrics`` from a background thread.

    Args:
        port: TCP port; ``None`` disables the server (``start``/``stop`` do nothing).
        host: interface to listen on.
        registry: the registry to expose (the process's default one by default).
    """

    def __init__(
        self, port: int | None, *, host: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY
    ) -> None:
        self.port = port
        self.host = host
        self.registry = registry
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start listening (idempotent).

        Raises:
            OSError: the port is taken.
        """
        if self.port is None or self._server is not None:
            return
        self._server, self._thread = start_http_server(
            self.port, addr=self.host, registry=self.registry
        )
        log.info("metrics.serving", port=self.port)

    def stop(self) -> None:
        """Stop the server and join its thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


class QueueDepthSampler:
    """Sample the depth and consumer count of queues into gauges, periodically.

    Args:
        url: AMQP URL.
        queues: callable returning the queue names to sample (re-read each round).
        depth: gauge with a ``queue`` label, set to the ready-message count.
        consumers: gauge with a ``queue`` label, set to the consumer count.
        interval_s: seconds between rounds.
    """

    def __init__(
        self,
        url: str,
        queues: Callable[[], Sequence[str]],
        *,
        depth: Gauge,
        consumers: Gauge,
        interval_s: float = 15.0,
    ) -> None:
        self.url = url
        self.queues = queues
        self.depth = depth
        self.consumers = consumers
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling in a background task (call from a running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="queue-depth-sampler")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sample_once(self) -> None:
        """Declare each queue passively and record its depth and consumers.

        A queue that does not exist is skipped; a broker that is away is logged once
        per round and retried next round.
        """
        try:
            connection = await aio_pika.connect(self.url, timeout=5)
        except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
            log.warning("metrics.queue_sample_failed", error=str(exc))
            return
        async with connection:
            for name in self.queues():
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(name, passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    continue
                result = queue.declaration_result
                self.depth.labels(queue=name).set(result.message_count or 0)
                self.consumers.labels(queue=name).set(result.consumer_count or 0)
                await channel.close()

    async def _run(self) -> None:
        while True:
            await self.sample_once()
            await asyncio.sleep(self.interval_s)
