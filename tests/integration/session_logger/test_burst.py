"""A burst of 10,000 publishes with 10% duplicates stores each event exactly once."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from tests.integration.session_logger.conftest import wait_for_rows, wait_settled

from lectern.broker import publish_event
from lectern.contracts import Event, SearchCompleted

pytestmark = pytest.mark.integration

TOTAL = 10_000
DUPLICATES = TOTAL // 10


async def test_burst_with_duplicates_stores_each_event_once(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
):
    unique: list[Event] = [
        SearchCompleted(
            query=f"q{n % 50}",
            mode="hybrid",
            top_k=5,
            hit_count=n % 4,
            latency_ms=float(n % 100),
            session_id=f"s{n % 100}",
        )
        for n in range(TOTAL - DUPLICATES)
    ]
    rng = random.Random(7)
    burst = unique + rng.sample(unique, DUPLICATES)
    rng.shuffle(burst)
    for start in range(0, len(burst), 1000):
        chunk = burst[start : start + 1000]
        await asyncio.gather(*(publish_event(publisher, event) for event in chunk))
    await wait_for_rows(db, len(unique), timeout=120)
    await wait_settled(amqp_url)  # every duplicate was handled too
    assert await db.fetchval("SELECT count(*) FROM events") == len(unique)
    assert await db.fetchval("SELECT count(DISTINCT event_id) FROM events") == len(unique)
    assert await db.fetchval("SELECT sum(search_count) FROM sessions") == len(unique)
    assert await db.fetchval("SELECT count(*) FROM sessions") == 100
