"""The event consumer end to end: RabbitMQ → batches → Postgres, exactly once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from tests.integration.session_logger.conftest import wait_for_rows, wait_settled, wait_until

from lectern import topology
from lectern.broker import publish_event
from lectern.contracts import (
    AnswerCompleted,
    DocumentAccepted,
    DocumentIndexed,
    Event,
    SearchCompleted,
)

pytestmark = pytest.mark.integration


def search(session_id: str, query: str = "install gazebo", **kwargs: object) -> SearchCompleted:
    fields: dict[str, object] = {
        "query": query,
        "mode": "hybrid",
        "top_k": 5,
        "hit_count": 3,
        "latency_ms": 12.5,
        "session_id": session_id,
        **kwargs,
    }
    return SearchCompleted.model_validate(fields)


async def test_each_event_is_stored_once(publisher: RabbitBroker, db: asyncpg.Connection):
    events: list[Event] = [search(f"s{n % 3}", correlation_id=f"r{n}") for n in range(60)]
    events += [
        AnswerCompleted(question="q", answer="a", latency_ms=40.0, session_id="s0"),
        DocumentAccepted(
            document_id="d1", version="v1", title="T", format="markdown", size_bytes=3
        ),
    ]
    await asyncio.gather(*(publish_event(publisher, event) for event in events))
    await wait_for_rows(db, len(events))
    rows = await db.fetch("SELECT event_id, event_type, session_id, payload FROM events")
    assert sorted(str(r["event_id"]) for r in rows) == sorted(str(e.event_id) for e in events)
    by_id = {str(r["event_id"]): r for r in rows}
    first = by_id[str(events[0].event_id)]
    assert first["event_type"] == "search.completed"
    assert first["session_id"] == "s0"
    assert json.loads(first["payload"])["query"] == "install gazebo"
    sessions = await db.fetch("SELECT * FROM sessions ORDER BY session_id")
    assert [(s["session_id"], s["search_count"], s["answer_count"]) for s in sessions] == [
        ("s0", 20, 1),
        ("s1", 20, 0),
        ("s2", 20, 0),
    ]


async def test_an_event_published_twice_is_stored_once(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
):
    event = search("dup")
    await publish_event(publisher, event)
    await publish_event(publisher, event)
    sentinel = search("other")
    await wait_for_rows(db, 1)
    await publish_event(publisher, sentinel)
    await wait_for_rows(db, 2)
    await wait_settled(amqp_url)  # both copies were handled
    assert await db.fetchval("SELECT count(*) FROM events WHERE event_id = $1", event.event_id) == 1
    assert await db.fetchval("SELECT count(*) FROM events") == 2
    assert await db.fetchval("SELECT search_count FROM sessions WHERE session_id = 'dup'") == 1


async def _dlq_message(
    amqp_url: str, timeout: float = 10.0
) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.dlq_name(topology.SESSION_LOGGER_EVENTS_QUEUE))
        for _ in range(int(timeout * 10)):
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                return message
            await asyncio.sleep(0.1)
    raise AssertionError("nothing dead-lettered")


async def test_invalid_message_is_dead_lettered_while_the_rest_flow(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
):
    good = [search("ok") for _ in range(10)]
    await asyncio.gather(*(publish_event(publisher, event) for event in good[:5]))
    await publisher.publish(
        b'{"event_type": "search.completed", "occurred_at": "not a time"}',
        exchange=topology.events_exchange,
        routing_key="search.completed",
        persist=True,
        mandatory=True,
    )
    await asyncio.gather(*(publish_event(publisher, event) for event in good[5:]))
    await wait_for_rows(db, 10)
    dead = await _dlq_message(amqp_url)
    assert b"not a time" in dead.body
    assert "invalid event" in str((dead.headers or {})[topology.DEAD_LETTER_REASON_HEADER])
    assert await db.fetchval("SELECT count(*) FROM events") == 10


async def test_known_event_failing_its_model_is_dead_lettered(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
):
    body = DocumentIndexed(document_id="d", version="v", chunk_count=1).model_dump(mode="json")
    body["chunk_count"] = "many"
    await publisher.publish(
        json.dumps(body).encode(),
        exchange=topology.events_exchange,
        routing_key="document.indexed",
        persist=True,
        mandatory=True,
    )
    await publish_event(publisher, search("after"))
    await wait_for_rows(db, 1)
    dead = await _dlq_message(amqp_url)
    assert json.loads(dead.body)["chunk_count"] == "many"


async def test_unknown_event_types_are_stored_too(publisher: RabbitBroker, db: asyncpg.Connection):
    body = {
        "event_id": "0b6f5f7e-51b6-4c61-9e8a-8d9f1c2b3a4d",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "event_type": "support.ticket.closed",
        "session_id": "fb",
        "rating": 5,
    }
    await publisher.publish(
        json.dumps(body).encode(),
        exchange=topology.events_exchange,
        routing_key="support.ticket.closed",
        persist=True,
        mandatory=True,
    )
    await wait_for_rows(db, 1)
    row = await db.fetchrow("SELECT event_type, payload FROM events")
    assert row is not None
    assert row["event_type"] == "support.ticket.closed"
    assert json.loads(row["payload"]) == {"rating": 5}

    async def counted() -> bool:
        return bool(await db.fetchval("SELECT event_count FROM sessions WHERE session_id='fb'"))

    await wait_until(counted)


async def test_row_postgres_rejects_is_isolated_and_dead_lettered(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
):
    poison = {
        "event_id": "5d1c6a52-6f0e-4d1b-9a55-0c5c1f1d2e3f",
        "occurred_at": datetime.now(UTC).isoformat(),
        "event_type": "support.ticket.closed",
        "comment": "\\ud800 lone surrogate",
    }
    good = [search("mixed") for _ in range(20)]
    await asyncio.gather(*(publish_event(publisher, event) for event in good[:10]))
    await publisher.publish(
        json.dumps(poison).replace("\\\\ud800", "\\ud800").encode(),
        exchange=topology.events_exchange,
        routing_key="support.ticket.closed",
        persist=True,
        mandatory=True,
    )
    await asyncio.gather(*(publish_event(publisher, event) for event in good[10:]))
    await wait_for_rows(db, 20)
    dead = await _dlq_message(amqp_url)
    assert b"ud800" in dead.body
    reason = str((dead.headers or {})[topology.DEAD_LETTER_REASON_HEADER])
    assert "rejected by Postgres" in reason
    assert await db.fetchval("SELECT count(*) FROM events") == 20
