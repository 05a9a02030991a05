"""Prometheus metrics of the session-logger (default ``prometheus_client`` registry).

Served on ``METRICS_PORT`` by :class:`lectern.metrics_server.ServiceMetrics`, with the
queue depths and FastStream's per-queue message families (``lectern_session_logger_
received_*``): FastStream's middleware fills them for ``session-logger.rpc``, and
:data:`EVENTS_QUEUE` fills the same families for the raw aio-pika event consumer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from faststream.prometheus.types import ProcessingStatus
from prometheus_client import Counter, Gauge, Histogram

from lectern import topology
from lectern.message_metrics import consumer_metrics
from lectern.metrics_server import ServiceMetrics

if TYPE_CHECKING:
    from lectern_session_logger.events import StoredEvent
    from lectern_session_logger.settings import SessionLoggerSettings

PREFIX = "lectern_session_logger"

WRITE_FAILURES = Counter(
    "lectern_session_logger_write_failures",
    "Failed batch writes to Postgres, by failure kind (data, unavailable, blocked) "
    "and SQLSTATE ('none' when the error had none, e.g. a lost connection).",
    ["kind", "sqlstate"],
)

WRITES_BLOCKED = Gauge(
    "lectern_session_logger_writes_blocked",
    "1 while batch writes are held because Postgres refuses them for a reason an "
    "operator must fix (SQLSTATE label: 42P01, 42501, 25006...), else 0.",
    ["sqlstate"],
)

DEAD_LETTERED = Counter(
    "lectern_session_logger_dead_lettered_events",
    "Events this process dead-lettered, by cause (invalid, rejected_by_store).",
    ["cause"],
)

BATCH_SIZE = Histogram(
    "lectern_session_logger_batch_size",
    "Events per batch committed to Postgres.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000),
)
POSTGRES_WRITE_SECONDS = Histogram(
    "lectern_session_logger_postgres_write_duration_seconds",
    "Duration of one batch write (INSERT and projections, one transaction), by outcome "
    "(ok, error).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENTS_PERSISTED = Counter(
    "lectern_session_logger_events_persisted",
    "Events in committed batches (new or already stored), by event type.",
    ["event_type"],
)


class _EventsQueueMetrics:
    """FastStream's message families for ``session-logger.events`` (raw aio-pika)."""

    queue = topology.SESSION_LOGGER_EVENTS_QUEUE

    def __init__(self) -> None:
        self._manager = consumer_metrics(PREFIX)

    def received(self, size_bytes: int) -> float:
        """Count a delivery; return its start time for :meth:`settled`."""
        self._manager.add_received_message(broker="rabbitmq", handler=self.queue)
        self._manager.observe_received_messages_size(
            broker="rabbitmq", handler=self.queue, size=size_bytes
        )
        return time.perf_counter()

    def settled(self, started: float, status: ProcessingStatus) -> None:
        """Count a settled delivery (acked, nacked, rejected) and its handling time."""
        self._manager.add_received_processed_message(
            broker="rabbitmq", handler=self.queue, status=status
        )
        self._manager.observe_received_processed_message_duration(
            broker="rabbitmq", handler=self.queue, duration=time.perf_counter() - started
        )


EVENTS_QUEUE = _EventsQueueMetrics()
"""Deliveries of ``session-logger.events``: received, settled by status, handling time
(delivery to settlement, batching included)."""


@contextmanager
def timed_write(events: Sequence[StoredEvent]) -> Iterator[None]:
    """Time one batch write; once it committed, count its size and events by type."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        POSTGRES_WRITE_SECONDS.labels("error").observe(time.perf_counter() - started)
        raise
    POSTGRES_WRITE_SECONDS.labels("ok").observe(time.perf_counter() - started)
    BATCH_SIZE.observe(len(events))
    for event in events:
        EVENTS_PERSISTED.labels(event.event_type).inc()


def session_logger_metrics(settings: SessionLoggerSettings) -> ServiceMetrics:
    """The metrics port and the queues sampled: events, its DLQ and the RPC queue."""
    events = topology.SESSION_LOGGER_EVENTS_QUEUE
    return ServiceMetrics(
        settings.metrics_port,
        settings.metrics_host,
        str(settings.rabbitmq_url),
        [events, topology.dlq_name(events), topology.SESSION_LOGGER_RPC_QUEUE],
        settings.queue_depth_interval_s,
    )
