"""A session belongs to the principal of its first event; others read it as 404."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from tests.integration.session_logger.conftest import wait_for_rows
from tests.integration.session_logger.test_reads import call

from lectern.broker import publish_event
from lectern.contracts import AnswerCompleted, Event, RpcError, SearchCompleted
from lectern.reads import SessionHistoryRequest, SessionHistoryResponse
from lectern.rpc import RpcClient

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(hours=1)


def _search(session: str, principal: str | None, minute: int) -> SearchCompleted:
    return SearchCompleted(
        query="q",
        mode="hybrid",
        top_k=5,
        hit_count=1,
        latency_ms=1.0,
        session_id=session,
        principal=principal,
        occurred_at=T0 + timedelta(minutes=minute),
    )


EVENTS: list[Event] = [
    _search("s-carol", "key:carol", 0),
    AnswerCompleted(
        question="q?",
        answer="a",
        latency_ms=1.0,
        session_id="s-carol",
        principal="key:carol",
        occurred_at=T0 + timedelta(minutes=1),
    ),
    _search("s-carol", "key:mallory", 2),  # a later event cannot take the session over
    _search("s-legacy", None, 0),
]


@pytest.fixture
async def reader(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
) -> AsyncIterator[RpcClient]:
    # the owner's events come first, in their own publishes, so they are stored first
    for event in EVENTS[:2]:
        await publish_event(publisher, event)
    await wait_for_rows(db, 2)
    await asyncio.gather(*(publish_event(publisher, event) for event in EVENTS[2:]))
    await wait_for_rows(db, len(EVENTS))
    client = RpcClient(amqp_url, name="test")
    await client.connect()
    yield client
    await client.close()


async def test_owner_and_admin_read_the_session(reader: RpcClient, db: asyncpg.Connection):
    owner = await call(reader, SessionHistoryRequest(session_id="s-carol", principal="key:carol"))
    assert isinstance(owner, SessionHistoryResponse)
    assert owner.event_count == 3
    admin = await call(reader, SessionHistoryRequest(session_id="s-carol"))
    assert isinstance(admin, SessionHistoryResponse)
    stored = await db.fetchval("SELECT principal FROM sessions WHERE session_id = 's-carol'")
    assert stored == "key:carol"


@pytest.mark.parametrize(
    ("session", "principal"),
    [("s-carol", "key:mallory"), ("s-carol", "addr:127.0.0.1")],
)
async def test_anyone_else_gets_the_same_404_as_for_a_missing_session(
    reader: RpcClient, session: str, principal: str
):
    other = await call(reader, SessionHistoryRequest(session_id=session, principal=principal))
    missing = await call(reader, SessionHistoryRequest(session_id="none", principal=principal))
    assert isinstance(other, RpcError)
    assert isinstance(missing, RpcError)
    assert other.status == missing.status == 404
    assert other.detail.replace(session, "X") == missing.detail.replace("none", "X")


async def test_a_session_no_principal_claimed_is_readable(reader: RpcClient):
    # Only events that name no principal (other services' events from the broker, or
    # events from before sessions had owners): nobody owns it, every reader sees it.
    shared = await call(reader, SessionHistoryRequest(session_id="s-legacy", principal="key:dan"))
    assert isinstance(shared, SessionHistoryResponse)
    assert shared.event_count == 1
