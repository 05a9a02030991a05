"""Every RPC read over a real RabbitMQ and Postgres returns the right rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from pydantic import BaseModel, TypeAdapter
from tests.integration.session_logger.conftest import rpc_after

from lectern import topology
from lectern.contracts import (
    AnswerCompleted,
    DocumentAccepted,
    DocumentDeleted,
    DocumentIndexed,
    DocumentIndexingFailed,
    Event,
    Message,
    RpcError,
    SearchCompleted,
)
from lectern.reads import (
    AnalyticsSummaryRequest,
    AnalyticsSummaryResponse,
    DocumentListRequest,
    DocumentListResponse,
    DocumentStatusRequest,
    DocumentStatusResponse,
    ReadReply,
    SessionHistoryRequest,
    SessionHistoryResponse,
)
from lectern.rpc import RpcClient

pytestmark = pytest.mark.integration

REPLY: TypeAdapter[ReadReply] = TypeAdapter(ReadReply)
T0 = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=2)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def search(session: str, query: str, hits: int, latency: float, minute: float) -> SearchCompleted:
    return SearchCompleted(
        query=query,
        mode="hybrid",
        top_k=5,
        hit_count=hits,
        latency_ms=latency,
        session_id=session,
        occurred_at=at(minute),
    )


def accepted(doc: str, minute: float, title: str = "Title") -> DocumentAccepted:
    return DocumentAccepted(
        document_id=doc,
        version=f"{doc}-v1",
        title=title,
        source=f"src/{doc}",
        format="markdown",
        size_bytes=10,
        occurred_at=at(minute),
    )


EVENTS: list[Event] = [
    search("alice", "Install Gazebo", 3, 10.0, 0),
    search("alice", "install gazebo ", 2, 20.0, 1),
    search("alice", "spawn a robot", 0, 30.0, 2),
    AnswerCompleted(
        question="how?", answer="like so", latency_ms=100.0, session_id="alice", occurred_at=at(3)
    ),
    search("bob", "ros 2 bridge", 1, 40.0, 24 * 60 + 5),  # the next day
    accepted("d1", 0),
    DocumentIndexed(document_id="d1", version="d1-v1", chunk_count=7, occurred_at=at(1)),
    accepted("d2", 0),
    DocumentIndexingFailed(document_id="d2", version="d2-v1", reason="bad html", occurred_at=at(2)),
    accepted("d3", 0),
    DocumentIndexed(document_id="d3", version="d3-v1", chunk_count=2, occurred_at=at(1)),
    DocumentDeleted(document_id="d3", deleted_points=2, occurred_at=at(5)),
    accepted("d4", 0),
]


@pytest.fixture
async def seeded(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
) -> AsyncIterator[RpcClient]:
    async with rpc_after(publisher, db, amqp_url, EVENTS) as client:
        yield client


async def call(client: RpcClient, request: Message) -> Any:
    raw = await client.call(
        topology.SESSION_LOGGER_RPC_QUEUE, request.model_dump_json().encode(), timeout=10
    )
    reply: BaseModel = REPLY.validate_json(raw)
    return reply


async def test_session_history_pages_in_order(seeded: RpcClient):
    first = await call(seeded, SessionHistoryRequest(session_id="alice", limit=3))
    assert isinstance(first, SessionHistoryResponse)
    assert (first.search_count, first.answer_count, first.event_count) == (3, 1, 4)
    assert (first.first_seen_at, first.last_seen_at) == (at(0), at(3))
    assert [i.payload.get("query") for i in first.interactions] == [
        "Install Gazebo",
        "install gazebo ",
        "spawn a robot",
    ]
    assert first.next_cursor is not None
    second = await call(
        seeded, SessionHistoryRequest(session_id="alice", limit=3, after=first.next_cursor)
    )
    assert [i.event_type for i in second.interactions] == ["answer.completed"]
    assert second.interactions[0].payload["answer"] == "like so"
    assert second.next_cursor is None


async def test_unknown_session_is_404_and_bad_cursor_400(seeded: RpcClient):
    missing = await call(seeded, SessionHistoryRequest(session_id="nobody"))
    assert isinstance(missing, RpcError)
    assert missing.status == 404
    bad = await call(seeded, SessionHistoryRequest(session_id="alice", after="bm9wZQ"))
    assert isinstance(bad, RpcError)
    assert bad.status == 400


async def test_document_status(seeded: RpcClient):
    d1 = await call(seeded, DocumentStatusRequest(document_id="d1"))
    assert isinstance(d1, DocumentStatusResponse)
    doc = d1.document
    assert (doc.status, doc.version, doc.chunk_count, doc.title, doc.source) == (
        "indexed",
        "d1-v1",
        7,
        "Title",
        "src/d1",
    )
    assert (doc.first_seen_at, doc.updated_at) == (at(0), at(1))
    d2 = (await call(seeded, DocumentStatusRequest(document_id="d2"))).document
    assert (d2.status, d2.failure_reason) == ("failed", "bad html")
    d3 = (await call(seeded, DocumentStatusRequest(document_id="d3"))).document
    assert d3.status == "deleted"
    missing = await call(seeded, DocumentStatusRequest(document_id="nope"))
    assert isinstance(missing, RpcError)
    assert missing.status == 404


async def test_document_list_pages_and_filters(seeded: RpcClient):
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await call(seeded, DocumentListRequest(limit=3, after=cursor))
        assert isinstance(page, DocumentListResponse)
        seen += [d.document_id for d in page.documents]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["d1", "d2", "d3", "d4"]
    failed = await call(seeded, DocumentListRequest(status="failed"))
    assert [(d.document_id, d.failure_reason) for d in failed.documents] == [("d2", "bad html")]
    pending = await call(seeded, DocumentListRequest(status="accepted"))
    assert [d.document_id for d in pending.documents] == ["d4"]


async def test_analytics_summary(seeded: RpcClient):
    request = AnalyticsSummaryRequest(since=at(-60), until=at(3 * 24 * 60), top_n=2)
    summary = await call(seeded, request)
    assert isinstance(summary, AnalyticsSummaryResponse)
    assert (summary.searches, summary.answers) == (4, 1)
    assert summary.zero_hit_rate == pytest.approx(0.25)
    assert summary.search_latency.p50_ms == pytest.approx(25.0)
    assert summary.search_latency.p95_ms == pytest.approx(38.5)
    assert summary.answer_latency.p50_ms == pytest.approx(100.0)
    assert [(q.query, q.count) for q in summary.top_queries] == [
        ("install gazebo", 2),
        ("ros 2 bridge", 1),
    ]
    day = T0.date()
    assert [(d.day, d.searches, d.answers, d.zero_hit_searches) for d in summary.per_day] == [
        (day, 3, 1, 1),
        (day + timedelta(days=1), 1, 0, 0),
    ]
    assert [(f.document_id, f.reason) for f in summary.failed_documents] == [("d2", "bad html")]
    assert summary.dead_lettered_events == 0
    narrow = await call(seeded, AnalyticsSummaryRequest(since=at(1), until=at(2)))
    assert (narrow.searches, narrow.zero_hit_rate, narrow.failed_documents) == (1, 0.0, [])
