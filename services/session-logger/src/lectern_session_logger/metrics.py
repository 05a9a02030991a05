"""Prometheus metrics of the session-logger (default ``prometheus_client`` registry).

Served on ``METRICS_PORT`` by :class:`lectern.metrics_server.ServiceMetrics`, with the
queue depths and FastStream's per-queue message families (``lectern_session_logger_
received_*``): FastStream's middleware fills them for ``session-logger.rpc``, and
:data:`EVENTS_QUEUE` fills the same families for the raw aio-pika event consumer.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from faststream.prometheus.container import MetricsContainer
from faststream.prometheus.types import ProcessingStatus
from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from lectern import topology
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
    """FastStream's message families for ``session-logger.events`` (raw aio-pika).

    The labelled children are looked up once: every delivery of the drain passes here,
    and a ``labels(...)`` lookup costs more than the increment itself.
    """

    queue = topology.SESSION_LOGGER_EVENTS_QUEUE

    def __init__(self) -> None:
        container = MetricsContainer(REGISTRY, metrics_prefix=PREFIX, custom_label_names=())
        labels = {"app_name": PREFIX, "broker": "rabbitmq", "handler": self.queue}
        self._received = container.received_messages_total.labels(**labels)
        self._size = container.received_messages_size_bytes.labels(**labels)
        self._duration = container.received_processed_messages_duration_seconds.labels(**labels)
        self._processed = {
            status: container.received_processed_messages_total.labels(
                **labels, status=status.value
            )
            for status in ProcessingStatus
        }

    def received(self, size_bytes: int) -> float:
        """Count a delivery; return its start time for :meth:`settled`."""
        self._received.inc()
        self._size.observe(size_bytes)
        return time.perf_counter()

    def settled(self, started: float, status: ProcessingStatus) -> None:
        """Count a settled delivery (acked, nacked, rejected) and its handling time."""
        self._processed[status].inc()
        self._duration.observe(time.perf_counter() - started)

    def settled_many(self, started: Sequence[float], status: ProcessingStatus) -> None:
        """:meth:`settled` for several deliveries settled now (a committed batch)."""
        if not started:
            return
        now = time.perf_counter()
        self._processed[status].inc(len(started))
        observe = self._duration.observe
        for at in started:
            observe(now - at)


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
    for event_type, count in collections.Counter(e.event_type for e in events).items():
        EVENTS_PERSISTED.labels(event_type).inc(count)


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
