"""Partitions: far-off events wait in the default partition and move when theirs is made."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from uuid import uuid4

import asyncpg
import pytest
from tests.integration.session_logger.conftest import make_settings

from lectern_session_logger.db import create_pool
from lectern_session_logger.events import StoredEvent
from lectern_session_logger.migrations import run_migrations
from lectern_session_logger.partitions import ensure_partitions, partition_name
from lectern_session_logger.store import PostgresEventRepository

pytestmark = pytest.mark.integration


async def test_default_partition_rows_move_into_a_new_partition(amqp_url: str, database_url: str):
    settings = make_settings(amqp_url, database_url)
    await run_migrations(settings)
    far = datetime.now(UTC).date() + timedelta(days=30)
    pool = await create_pool(settings)
    try:
        repository = PostgresEventRepository(pool, retention_days=90, ahead_days=7)
        stored = StoredEvent(
            event_id=uuid4(),
            occurred_at=datetime.combine(far, time(8), tzinfo=UTC),
            event_type="x",
            schema_version=1,
            correlation_id=None,
            session_id=None,
            document_id=None,
            payload=json.dumps({}),
        )
        assert await repository.write_batch([stored]) == 1
        assert await repository.write_batch([stored]) == 0  # duplicate, even in default
    finally:
        await pool.close()
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM events_default") == 1
        assert await ensure_partitions(connection, [far]) == [far]
        assert await ensure_partitions(connection, [far]) == []
        assert await connection.fetchval("SELECT count(*) FROM events_default") == 0
        moved = await connection.fetchval(f"SELECT count(*) FROM {partition_name(far)}")
        assert moved == 1
    finally:
        await connection.close()
