"""Events Postgres could not hold as they are (NUL, over 1 MiB) are stored, not lost.

Against a real RabbitMQ and Postgres: an event with U+0000 in its text is stored with
NUL escaped (reversibly); an oversized event is bounded by the publisher
(``publish_event``) or, when another publisher sent it raw, by the session-logger on
read; and the analytics summary counts what was dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from pydantic import TypeAdapter
from tests.integration.session_logger.conftest import wait_for_rows, wait_until

from lectern import topology
from lectern.broker import publish_event
from lectern.contracts import AnswerCompleted, SearchCompleted
from lectern.event_bounds import MAX_EVENT_BYTES, unescape_nul
from lectern.reads import AnalyticsSummaryRequest, AnalyticsSummaryResponse, ReadReply
from lectern.rpc import RpcClient

pytestmark = pytest.mark.integration

REPLY: TypeAdapter[ReadReply] = TypeAdapter(ReadReply)


@pytest.fixture
async def rpc(amqp_url: str, db: asyncpg.Connection) -> AsyncIterator[RpcClient]:
    client = RpcClient(amqp_url, name="test")
    await client.connect()
    yield client
    await client.close()


async def _payload(db: asyncpg.Connection, event_id: object) -> dict[str, object]:
    raw = await db.fetchval("SELECT payload FROM events WHERE event_id = $1", event_id)
    assert raw is not None
    payload: dict[str, object] = json.loads(raw)
    return payload


async def test_a_query_with_nul_is_stored_escaped(publisher: RabbitBroker, db: asyncpg.Connection):
    event = SearchCompleted(
        query="robots\x00 and C:\\path",
        mode="hybrid",
        top_k=5,
        hit_count=0,
        latency_ms=3.0,
        session_id="nul\x00session",
    )
    await publish_event(publisher, event)
    await wait_for_rows(db, 1)
    payload = await _payload(db, event.event_id)
    assert payload["nul_escaped"] is True
    assert payload["query"] == "robots\\0 and C:\\\\path"
    assert unescape_nul(payload)["query"] == event.query
    assert await db.fetchval("SELECT session_id FROM events") == "nul\\0session"
    assert await db.fetchval("SELECT search_count FROM sessions") == 1


async def test_a_5_mb_answer_is_bounded_by_the_publisher(
    publisher: RabbitBroker, db: asyncpg.Connection
):
    event = AnswerCompleted(question="why?", answer="because " * 655_360, latency_ms=9.0)
    await publish_event(publisher, event)
    await wait_for_rows(db, 1)
    payload = await _payload(db, event.event_id)
    assert payload["truncated"] is True
    assert payload["truncated_fields"] == {"/answer": len(event.answer)}
    assert event.answer.startswith(str(payload["answer"]))
    assert json_bytes(payload) <= MAX_EVENT_BYTES
    assert payload["question"] == "why?"


async def test_an_oversized_raw_event_is_bounded_on_read(
    publisher: RabbitBroker, db: asyncpg.Connection
):
    body = {
        "event_id": str(uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "event_type": "support.ticket.closed",
        "comment": "x" * (3 * 1024 * 1024),
        "tags": ["a", "b"],
    }
    await publisher.publish(
        json.dumps(body).encode(),
        exchange=topology.events_exchange,
        routing_key="support.ticket.closed",
        persist=True,
        mandatory=True,
    )
    await wait_for_rows(db, 1)
    payload = await _payload(db, body["event_id"])
    assert payload["truncated_fields"] == {"/comment": 3 * 1024 * 1024}
    assert payload["tags"] == ["a", "b"]


async def test_the_analytics_summary_counts_dead_lettered_events(
    publisher: RabbitBroker, db: asyncpg.Connection, rpc: RpcClient
):
    for _ in range(2):
        await publisher.publish(
            b'{"event_type": "search.completed"}',
            exchange=topology.events_exchange,
            routing_key="search.completed",
            persist=True,
            mandatory=True,
        )
    now = datetime.now(UTC)
    request = AnalyticsSummaryRequest(since=now - timedelta(days=1), until=now + timedelta(1))

    async def counted() -> bool:
        raw = await rpc.call(
            topology.SESSION_LOGGER_RPC_QUEUE, request.model_dump_json().encode(), timeout=10
        )
        summary = REPLY.validate_json(raw)
        assert isinstance(summary, AnalyticsSummaryResponse)
        return summary.dead_lettered_events == 2

    await wait_until(counted, timeout=30)


def json_bytes(payload: dict[str, object]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
