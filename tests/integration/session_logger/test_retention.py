"""Retention drops only the daily partitions past the cutoff, and what only they held."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4

import asyncpg
import pytest
from tests.conftest import REPO_ROOT
from tests.integration.session_logger.conftest import make_settings

from lectern_session_logger.db import create_pool
from lectern_session_logger.events import StoredEvent
from lectern_session_logger.maintenance import run_maintenance
from lectern_session_logger.migrations import run_migrations
from lectern_session_logger.partitions import existing_days, partition_name
from lectern_session_logger.settings import SessionLoggerSettings
from lectern_session_logger.store import PostgresEventRepository

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


def event(
    day: date, event_type: str, session: str | None = None, hour: int = 12, **payload: object
) -> StoredEvent:
    document_id = payload.get("document_id")
    return StoredEvent(
        event_id=uuid4(),
        occurred_at=datetime.combine(day, time(hour), tzinfo=UTC),
        event_type=event_type,
        schema_version=1,
        correlation_id=None,
        session_id=session,
        document_id=document_id if isinstance(document_id, str) else None,
        payload=json.dumps(payload),
    )


@pytest.fixture
async def settings90(amqp_url: str, database_url: str) -> SessionLoggerSettings:
    settings = make_settings(amqp_url, database_url, retention_days=90)
    await run_migrations(settings)
    return settings


@pytest.fixture
async def seeded(settings90: SessionLoggerSettings) -> AsyncIterator[asyncpg.Connection]:
    pool = await create_pool(settings90)
    # Written as a 365-day service would, so old days get their own partitions.
    repository = PostgresEventRepository(pool, retention_days=365, ahead_days=7)
    old, older, recent = (TODAY - timedelta(days=n) for n in (95, 120, 10))
    await repository.write_batch(
        [
            event(older, "search.completed", "gone", query="a"),
            event(old, "search.completed", "gone", query="b"),
            event(old, "search.completed", "spans", query="c"),
            event(recent, "search.completed", "spans", query="d"),
            event(recent, "search.completed", "kept", query="e"),
            event(
                old,
                "document.accepted",
                document_id="deleted-long-ago",
                version="v",
                title="t",
                format="text",
                size_bytes=1,
            ),
            event(
                old, "document.deleted", hour=13, document_id="deleted-long-ago", deleted_points=1
            ),
            event(old, "document.failed", document_id="failed-long-ago", reason="x"),
            event(
                old, "document.indexed", document_id="indexed-long-ago", version="v", chunk_count=1
            ),
            event(
                recent,
                "document.accepted",
                hour=11,
                document_id="deleted-recently",
                version="v",
                title="t",
                format="text",
                size_bytes=1,
            ),
            event(recent, "document.deleted", document_id="deleted-recently", deleted_points=1),
        ]
    )
    await pool.close()
    connection = await asyncpg.connect(settings90.database_url)
    # An event older than any partition lands in the default partition.
    await connection.execute(
        "INSERT INTO events (event_id, occurred_at, event_type, payload) "
        "VALUES ($1, $2, 'x', '{}')",
        uuid4(),
        datetime.combine(TODAY - timedelta(days=400), time(), tzinfo=UTC),
    )
    yield connection
    await connection.close()


async def test_retention_drops_only_partitions_past_the_cutoff(
    seeded: asyncpg.Connection, settings90: SessionLoggerSettings
):
    before = await existing_days(seeded)
    report = await run_maintenance(seeded, settings90)
    after = await existing_days(seeded)
    cutoff = TODAY - timedelta(days=90)
    assert report.cutoff == cutoff
    assert sorted(report.dropped_partitions) == sorted(
        partition_name(day) for day in before if day < cutoff
    )
    assert {partition_name(TODAY - timedelta(days=n)) for n in (95, 120)} <= set(
        report.dropped_partitions
    )
    assert all(day >= cutoff for day in after)
    assert TODAY - timedelta(days=10) in after
    assert {TODAY + timedelta(days=n) for n in range(8)} <= after  # created ahead
    assert report.default_rows_deleted == 1
    queries = await seeded.fetch(
        "SELECT payload->>'query' AS q FROM events WHERE event_type = 'search.completed'"
    )
    assert sorted(r["q"] for r in queries) == ["d", "e"]
    sessions = await seeded.fetch("SELECT session_id FROM sessions ORDER BY 1")
    assert [r["session_id"] for r in sessions] == ["kept", "spans"]
    documents = await seeded.fetch("SELECT document_id, status FROM documents ORDER BY 1")
    assert [(r["document_id"], r["status"]) for r in documents] == [
        ("deleted-recently", "deleted"),
        ("failed-long-ago", "failed"),
        ("indexed-long-ago", "indexed"),
    ]
    again = await run_maintenance(seeded, settings90)
    assert again.dropped_partitions == []


async def test_retention_command_runs_once(seeded: asyncpg.Connection, database_url: str):
    env = {**os.environ, "DATABASE_URL": database_url, "RETENTION_DAYS": "30", "LOG_JSON": "1"}
    process = await asyncio.create_subprocess_exec(
        str(REPO_ROOT / ".venv" / "bin" / "lectern-session-logger"),
        "retention",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert b"dropped" in stdout
    assert b"retention.applied" in stderr
    assert all(day >= TODAY - timedelta(days=30) for day in await existing_days(seeded))
    remaining = await seeded.fetchval("SELECT count(*) FROM events WHERE session_id = 'spans'")
    assert remaining == 1
