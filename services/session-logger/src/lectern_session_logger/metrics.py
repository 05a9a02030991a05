"""Prometheus metrics of the session-logger (default ``prometheus_client`` registry).

The service has no metrics HTTP port of its own yet; the metrics live in the default
registry, so a port added later (``METRICS_PORT``) exposes them as they are, and the
ping reply carries the same state meanwhile.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
