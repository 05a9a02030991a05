"""Partition upkeep: create daily partitions ahead and apply retention, on a schedule.

Every ``MAINTENANCE_INTERVAL_S`` (and once at start-up) the service creates the
partitions of the next ``PARTITIONS_AHEAD_DAYS`` days and drops those wholly older than
``RETENTION_DAYS``; the ``retention`` command runs the same once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

import asyncpg

from lectern.logging import get_logger
from lectern_session_logger.partitions import (
    RetentionReport,
    apply_retention,
    day_of,
    ensure_partitions,
    retention_cutoff,
    utc_today,
)
from lectern_session_logger.settings import SessionLoggerSettings

if TYPE_CHECKING:
    from lectern_session_logger.db import AnyConnection

log = get_logger(__name__)


async def run_maintenance(
    connection: AnyConnection, settings: SessionLoggerSettings, today: date | None = None
) -> RetentionReport:
    """Create upcoming partitions, then drop the expired ones; log what was dropped.

    Args:
        connection: a connection not inside a transaction.
        settings: ``RETENTION_DAYS`` and ``PARTITIONS_AHEAD_DAYS``.
        today: the current UTC day (tests pass their own).

    Returns:
        What retention removed.
    """
    day = today or utc_today()
    await ensure_partitions(
        connection, (day + timedelta(days=n) for n in range(settings.partitions_ahead_days + 1))
    )
    report = await apply_retention(connection, retention_cutoff(settings.retention_days, day))
    log.info(
        "retention.applied",
        retention_days=settings.retention_days,
        cutoff=report.cutoff.isoformat(),
        dropped_partitions=report.dropped_partitions,
        default_rows_deleted=report.default_rows_deleted,
        sessions_deleted=report.sessions_deleted,
        documents_deleted=report.documents_deleted,
    )
    return report


async def maintenance_once(
    pool: asyncpg.Pool,
    settings: SessionLoggerSettings,
    on_dropped: Callable[[set[date]], None],
) -> bool:
    """Run :func:`run_maintenance` on a pooled connection; log and swallow failures.

    Args:
        pool: the service's pool.
        settings: the service's settings.
        on_dropped: told which days lost their partition (the writer's cache).

    Returns:
        Whether the run succeeded.
    """
    try:
        async with pool.acquire() as connection:
            report = await run_maintenance(connection, settings)
    except Exception:
        log.exception("maintenance.failed")
        return False
    on_dropped({d for name in report.dropped_partitions if (d := day_of(name))})
    return True


async def maintenance_loop(
    pool: asyncpg.Pool,
    settings: SessionLoggerSettings,
    on_dropped: Callable[[set[date]], None],
) -> None:
    """Run :func:`maintenance_once` every ``MAINTENANCE_INTERVAL_S``, until cancelled.

    The service runs it once itself at start-up; a failed run is tried again after one
    minute (or the interval, if shorter). It never stops the service.
    """
    delay = settings.maintenance_interval_s
    while True:
        await asyncio.sleep(delay)
        ok = await maintenance_once(pool, settings, on_dropped)
        delay = (
            settings.maintenance_interval_s if ok else min(60.0, settings.maintenance_interval_s)
        )
