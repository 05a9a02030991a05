"""Writing batches of events and their projections to Postgres.

One batch is one statement: the rows travel as arrays (``unnest``), are inserted with
``ON CONFLICT DO NOTHING`` (the idempotency key is ``event_id``; the unique key is
``(event_id, occurred_at)`` because a partitioned table's unique keys must hold the
partition key), and the rows actually inserted (``RETURNING``) feed the ``documents``
and ``sessions`` projections in the same statement, so a duplicate never counts twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, timedelta
from typing import TYPE_CHECKING, Protocol

import asyncpg

from lectern_session_logger.events import StoredEvent
from lectern_session_logger.partitions import ensure_partitions, existing_days, utc_today

WRITE_BATCH = """
WITH input AS (
    SELECT DISTINCT ON (event_id, occurred_at) *
    FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int[], $5::text[],
                $6::text[], $7::text[], $8::text[])
        AS t(event_id, occurred_at, event_type, schema_version, correlation_id,
             session_id, document_id, payload)
),
inserted AS (
    INSERT INTO events (event_id, occurred_at, event_type, schema_version,
                        correlation_id, session_id, document_id, payload)
    SELECT event_id, occurred_at, event_type, schema_version, correlation_id,
           session_id, document_id, payload::jsonb
    FROM input
    ON CONFLICT DO NOTHING
    RETURNING event_id, occurred_at, event_type, session_id, document_id, payload
),
doc_events AS (
    SELECT *, CASE event_type WHEN 'document.accepted' THEN 'accepted'
                              WHEN 'document.indexed' THEN 'indexed'
                              WHEN 'document.failed' THEN 'failed'
                              ELSE 'deleted' END AS status,
           coalesce(payload->>'collection', 'default') AS collection
    FROM inserted
    WHERE document_id IS NOT NULL
      AND event_type IN ('document.accepted', 'document.indexed',
                         'document.failed', 'document.deleted')
      AND coalesce(payload->>'superseded', 'false') <> 'true'
),
latest AS (
    SELECT DISTINCT ON (collection, document_id) *
    FROM doc_events ORDER BY collection, document_id, occurred_at DESC, event_id DESC
),
described AS (
    SELECT DISTINCT ON (collection, document_id) collection, document_id,
           occurred_at AS described_at, payload->>'title' AS title,
           payload->>'source' AS source, payload->>'format' AS format
    FROM doc_events WHERE status = 'accepted'
    ORDER BY collection, document_id, occurred_at DESC, event_id DESC
),
first_seen AS (
    SELECT collection, document_id, min(occurred_at) AS first_seen_at
    FROM doc_events GROUP BY collection, document_id
),
upsert_documents AS (
    INSERT INTO documents AS d (collection, document_id, status, version, title, source,
                                format, chunk_count, failure_reason, described_at,
                                first_seen_at, updated_at, last_event_id)
    SELECT l.collection, l.document_id, l.status, l.payload->>'version', s.title, s.source,
           s.format, (l.payload->>'chunk_count')::int,
           CASE WHEN l.status = 'failed' THEN l.payload->>'reason' END,
           s.described_at, f.first_seen_at, l.occurred_at, l.event_id
    FROM latest l JOIN first_seen f USING (collection, document_id)
    LEFT JOIN described s USING (collection, document_id)
    WHERE l.status <> 'deleted'
       OR EXISTS (SELECT 1 FROM doc_events o
                  WHERE o.collection = l.collection AND o.document_id = l.document_id
                    AND o.status <> 'deleted')
       OR EXISTS (SELECT 1 FROM documents k
                  WHERE k.collection = l.collection AND k.document_id = l.document_id)
    ON CONFLICT (collection, document_id) DO UPDATE SET
        status = CASE WHEN (excluded.updated_at, excluded.last_event_id)
                           > (d.updated_at, d.last_event_id)
                      THEN excluded.status ELSE d.status END,
        version = CASE WHEN (excluded.updated_at, excluded.last_event_id)
                            > (d.updated_at, d.last_event_id)
                       THEN coalesce(excluded.version, d.version) ELSE d.version END,
        chunk_count = CASE WHEN (excluded.updated_at, excluded.last_event_id)
                                > (d.updated_at, d.last_event_id)
                           THEN excluded.chunk_count ELSE d.chunk_count END,
        failure_reason = CASE WHEN (excluded.updated_at, excluded.last_event_id)
                                   > (d.updated_at, d.last_event_id)
                              THEN excluded.failure_reason ELSE d.failure_reason END,
        last_event_id = CASE WHEN (excluded.updated_at, excluded.last_event_id)
                                  > (d.updated_at, d.last_event_id)
                             THEN excluded.last_event_id ELSE d.last_event_id END,
        updated_at = greatest(excluded.updated_at, d.updated_at),
        first_seen_at = least(excluded.first_seen_at, d.first_seen_at),
        title = CASE WHEN excluded.described_at > d.described_at
                        OR (excluded.described_at IS NOT NULL AND d.described_at IS NULL)
                   THEN excluded.title ELSE d.title END,
        source = CASE WHEN excluded.described_at > d.described_at
                        OR (excluded.described_at IS NOT NULL AND d.described_at IS NULL)
                   THEN excluded.source ELSE d.source END,
        format = CASE WHEN excluded.described_at > d.described_at
                        OR (excluded.described_at IS NOT NULL AND d.described_at IS NULL)
                   THEN excluded.format ELSE d.format END,
        described_at = greatest(excluded.described_at, d.described_at)
),
dropped_collections AS (
    SELECT payload->>'collection' AS collection, max(occurred_at) AS dropped_at
    FROM inserted WHERE event_type = 'collection.deleted' GROUP BY 1
),
drop_documents AS (
    -- A deleted collection's documents are deleted (rows this batch upserts are left to
    -- the upsert: one statement may not change a row twice).
    UPDATE documents d SET status = 'deleted', chunk_count = NULL, updated_at = c.dropped_at
    FROM dropped_collections c
    WHERE d.collection = c.collection AND d.updated_at <= c.dropped_at
      AND d.status <> 'deleted'
      AND NOT EXISTS (SELECT 1 FROM latest l
                      WHERE l.collection = d.collection AND l.document_id = d.document_id)
),
upsert_sessions AS (
    INSERT INTO sessions AS s (session_id, first_seen_at, last_seen_at, search_count,
                               answer_count, event_count, principal)
    SELECT session_id, min(occurred_at), max(occurred_at),
           count(*) FILTER (WHERE event_type = 'search.completed'),
           count(*) FILTER (WHERE event_type = 'answer.completed'),
           count(*),
           (array_agg(payload->>'principal' ORDER BY occurred_at, event_id)
                FILTER (WHERE payload->>'principal' IS NOT NULL))[1]
    FROM inserted WHERE session_id IS NOT NULL GROUP BY session_id
    ON CONFLICT (session_id) DO UPDATE SET
        principal = coalesce(s.principal, excluded.principal),
        first_seen_at = least(s.first_seen_at, excluded.first_seen_at),
        last_seen_at = greatest(s.last_seen_at, excluded.last_seen_at),
        search_count = s.search_count + excluded.search_count,
        answer_count = s.answer_count + excluded.answer_count,
        event_count = s.event_count + excluded.event_count
)
SELECT count(*) FROM inserted
"""
"""One statement: insert the batch, then update both projections from the new rows."""


if TYPE_CHECKING:
    from lectern_session_logger.db import AnyConnection


class EventRepository(Protocol):
    """Where batches of events are stored (Postgres, or a fake in unit tests)."""

    async def write_batch(self, events: Sequence[StoredEvent]) -> int:
        """Store ``events`` atomically; return how many were new (not duplicates)."""
        ...

    async def reset(self) -> None:
        """Forget cached state and replace connections before a retry after a refusal."""
        ...


class PostgresEventRepository:
    """:class:`EventRepository` over an asyncpg pool.

    Keeps the set of days that have their own partition, so a batch only pays for
    partition DDL the first time it meets a day inside the retention window.
    """

    def __init__(self, pool: asyncpg.Pool, *, retention_days: int, ahead_days: int) -> None:
        self._pool = pool
        self._retention_days = retention_days
        self._ahead_days = ahead_days
        self._known_days: set[date] | None = None

    def forget_days(self, days: set[date]) -> None:
        """Drop ``days`` from the partition cache (after retention dropped them)."""
        if self._known_days is not None:
            self._known_days -= days

    async def reset(self) -> None:
        """Replace every pooled connection (as each is next released) and re-read partitions.

        After a refusal that an operator fixes outside the service (``ALTER DATABASE ...
        SET default_transaction_read_only``, a failover to a new primary, a grant), new
        sessions see the fix; the current ones keep their settings until replaced.
        """
        await self._pool.expire_connections()
        self._known_days = None

    async def _prepare_partitions(self, connection: AnyConnection, days: set[date]) -> None:
        if self._known_days is None:
            self._known_days = await existing_days(connection)
        today = utc_today()
        low = today - timedelta(days=self._retention_days)
        high = today + timedelta(days=self._ahead_days)
        missing = {day for day in days - self._known_days if low <= day <= high}
        if missing:
            await ensure_partitions(connection, missing)
            self._known_days |= missing

    async def write_batch(self, events: Sequence[StoredEvent]) -> int:
        """Insert ``events`` and update the projections in one transaction.

        Args:
            events: rows to store; duplicates (same ``event_id`` and ``occurred_at``),
                in the batch or already stored, are skipped.

        Returns:
            The number of rows newly inserted.

        Raises:
            asyncpg.PostgresError, OSError: the write failed and was rolled back.
        """
        if not events:
            return 0
        async with self._pool.acquire() as connection:
            await self._prepare_partitions(
                connection, {event.occurred_at.astimezone(UTC).date() for event in events}
            )
            inserted = await connection.fetchval(
                WRITE_BATCH,
                [e.event_id for e in events],
                [e.occurred_at for e in events],
                [e.event_type for e in events],
                [e.schema_version for e in events],
                [e.correlation_id for e in events],
                [e.session_id for e in events],
                [e.document_id for e in events],
                [e.payload for e in events],
            )
        return int(inserted)
