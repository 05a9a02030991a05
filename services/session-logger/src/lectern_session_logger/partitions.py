"""Daily partitions of the ``events`` table: creation ahead of time and retention.

Partition ``events_pYYYYMMDD`` holds ``occurred_at`` in ``[day 00:00 UTC, next day
00:00 UTC)``. ``events_default`` catches the rest (events older than the retention
window, or far in the future) so an insert is never rejected. Creating a partition
first moves any of its rows out of the default partition, then attaches it, as the
PostgreSQL manual describes ("Table Partitioning", 5.11.2.2). DDL runs under one
transaction-level advisory lock so replicas never race.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from lectern.logging import get_logger

if TYPE_CHECKING:
    from lectern_session_logger.db import AnyConnection

log = get_logger(__name__)

PARTITION_DDL_LOCK = 0x6C6563_7465726E
"""Advisory lock key held while partitions are created or dropped."""

PARTITION_RE = re.compile(r"^events_p(\d{8})$")

LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'events'::regclass
"""


def partition_name(day: date) -> str:
    """Name of the partition holding ``day`` (``events_p20250131``)."""
    return f"events_p{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    """The day a partition name stands for, or ``None`` for other tables."""
    match = PARTITION_RE.match(name)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time(), tzinfo=UTC)


def utc_today() -> date:
    """Today's date in UTC."""
    return datetime.now(UTC).date()


def retention_cutoff(retention_days: int, today: date | None = None) -> date:
    """First day kept: events before midnight UTC of this day may be dropped."""
    return (today or utc_today()) - timedelta(days=retention_days)


async def existing_days(connection: AnyConnection) -> set[date]:
    """Days that have their own partition."""
    rows = await connection.fetch(LIST_PARTITIONS)
    return {day for row in rows if (day := day_of(row["relname"])) is not None}


async def create_partition(connection: AnyConnection, day: date) -> int:
    """Create and attach the partition of ``day``, moving its rows out of the default.

    Must run inside a transaction that holds :data:`PARTITION_DDL_LOCK`.

    Returns:
        Rows moved from ``events_default`` into the new partition.
    """
    name = partition_name(day)
    low, high = day_start(day), day_start(day + timedelta(days=1))
    await connection.execute(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)")
    status = await connection.execute(
        f"WITH moved AS (DELETE FROM events_default WHERE occurred_at >= $1 "
        f"AND occurred_at < $2 RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        low,
        high,
    )
    await connection.execute(
        f"ALTER TABLE events ATTACH PARTITION {name} "
        f"FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"
    )
    return int(status.split()[-1])


async def ensure_partitions(connection: AnyConnection, days: Iterable[date]) -> list[date]:
    """Create the partitions of ``days`` that do not exist yet (idempotent, race-free).

    Returns:
        The days whose partition this call created.
    """
    wanted = set(days)
    if not wanted - await existing_days(connection):
        return []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_DDL_LOCK)
        missing = sorted(wanted - await existing_days(connection))
        for day in missing:
            moved = await create_partition(connection, day)
            log.info("partition.created", partition=partition_name(day), moved_rows=moved)
    return missing


@dataclass
class RetentionReport:
    """What one retention run removed.

    Attributes:
        cutoff: events with ``occurred_at`` before midnight UTC of this day were removed.
        dropped_partitions: names of the dropped daily partitions.
        default_rows_deleted: rows deleted from ``events_default``.
        sessions_deleted: sessions whose every event was before the cutoff.
        documents_deleted: documents deleted (status ``deleted``) before the cutoff.
    """

    cutoff: date
    dropped_partitions: list[str] = field(default_factory=list)
    default_rows_deleted: int = 0
    sessions_deleted: int = 0
    documents_deleted: int = 0


async def apply_retention(connection: AnyConnection, cutoff: date) -> RetentionReport:
    """Drop every partition wholly before ``cutoff`` and the projection rows it leaves.

    A document's status row lives on while the document exists; only documents deleted
    before the cutoff lose it. A session loses its row when its last event is gone.
    """
    report = RetentionReport(cutoff=cutoff)
    boundary = day_start(cutoff)
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_DDL_LOCK)
        for day in sorted(await existing_days(connection)):
            if day < cutoff:
                await connection.execute(f"DROP TABLE {partition_name(day)}")
                report.dropped_partitions.append(partition_name(day))
        deleted = await connection.execute(
            "DELETE FROM events_default WHERE occurred_at < $1", boundary
        )
        report.default_rows_deleted = int(deleted.split()[-1])
        sessions = await connection.execute(
            "DELETE FROM sessions WHERE last_seen_at < $1", boundary
        )
        report.sessions_deleted = int(sessions.split()[-1])
        documents = await connection.execute(
            "DELETE FROM documents WHERE status = 'deleted' AND updated_at < $1", boundary
        )
        report.documents_deleted = int(documents.split()[-1])
    return report
