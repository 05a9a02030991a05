"""Feedback figures of the analytics summary over a real RabbitMQ and Postgres.

``FeedbackGiven`` is joined to ``AnswerCompleted`` by ``answer_id``: once through the
session-logger's RPC with hand-made events (latest rating wins, clock skew, orphans,
the window), once end to end through the gateway's HTTP API.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from faststream import FastStream
from faststream.rabbit import RabbitBroker
from tests.integration.gateway.live_gateway import running_gateway
from tests.integration.session_logger.conftest import rpc_after, wait_until
from tests.integration.session_logger.test_query_plans import plan_of, seq_scans
from tests.integration.session_logger.test_reads import call

from lectern.contracts import AnswerCompleted, Event, FeedbackGiven
from lectern.reads import AnalyticsSummaryRequest, AnalyticsSummaryResponse
from lectern.rpc import RpcClient
from lectern_gateway.settings import GatewaySettings
from lectern_session_logger import queries
from lectern_session_logger.read_store import FEEDBACK_CLOCK_SKEW

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=2)
IDS = {name: str(uuid.uuid4()) for name in ("a1", "a2", "a3", "a4", "a5", "old", "ghost")}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def answer(name: str, minute: float, collections: tuple[str, ...] = ()) -> AnswerCompleted:
    return AnswerCompleted(
        question=f"question {name}?",
        answer=f"answer {name}",
        latency_ms=5.0,
        answer_id=IDS[name],
        occurred_at=at(minute),
        collections=list(collections),
    )


def rate(name: str, rating: str, minute: float, comment: str | None = None) -> FeedbackGiven:
    return FeedbackGiven(
        answer_id=IDS[name],
        rating=rating,  # type: ignore[arg-type]
        comment=comment,
        principal="key:reader",
        occurred_at=at(minute),
    )


EVENTS: list[Event] = [
    answer("old", -120),  # before the window: its rating does not count
    rate("old", "down", 1),
    answer("a1", 0),
    rate("a1", "down", 1),
    rate("a1", "up", 2, "second thoughts"),  # the latest rating counts
    answer("a2", 3),
    rate("a2", "down", 24 * 60 + 4, "wrong OS"),  # a day later: still counts
    answer("a3", 5),
    rate("a3", "up", 6),
    answer("a4", 7, ("team-a",)),
    rate("a4", "down", 7 - 0.5),  # stamped 30 s before its answer (skewed clocks)
    answer("a5", 8),  # an answer nobody rated
    rate("ghost", "down", 9),  # no such answer: orphaned
    AnswerCompleted(question="legacy", answer="no id", latency_ms=1.0, occurred_at=at(10)),
]
WINDOW = AnalyticsSummaryRequest(since=at(-60), until=at(60), top_n=10)


@pytest.fixture
async def rpc(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
) -> AsyncIterator[RpcClient]:
    async with rpc_after(publisher, db, amqp_url, EVENTS) as client:
        yield client


async def test_feedback_figures_join_ratings_to_answers(rpc: RpcClient):
    summary = await call(rpc, WINDOW)
    assert isinstance(summary, AnalyticsSummaryResponse)
    feedback = summary.feedback
    assert feedback is not None
    assert (feedback.answers, feedback.rated_answers) == (6, 4)
    assert (feedback.rated_up, feedback.rated_down, feedback.orphaned) == (2, 2, 1)
    assert feedback.down_share == pytest.approx(2 / 6)
    assert feedback.down_share_of_rated == pytest.approx(0.5)
    down = [(d.answer_id, d.question, d.comment) for d in feedback.rated_down_answers]
    assert down == [
        (IDS["a2"], "question a2?", "wrong OS"),
        (IDS["a4"], "question a4?", None),
    ]
    a2 = feedback.rated_down_answers[0]
    assert (a2.answered_at, a2.rated_at, a2.answer) == (at(3), at(24 * 60 + 4), "answer a2")


async def test_feedback_figures_per_collection(rpc: RpcClient):
    scoped = await call(rpc, WINDOW.model_copy(update={"collections": ["team-a"]}))
    feedback = scoped.feedback
    assert (feedback.answers, feedback.rated_answers, feedback.rated_down) == (1, 1, 1)
    assert [d.answer_id for d in feedback.rated_down_answers] == [IDS["a4"]]
    other = await call(rpc, WINDOW.model_copy(update={"collections": ["team-b"]}))
    assert (other.feedback.answers, other.feedback.rated_answers) == (0, 0)


async def test_feedback_figures_follow_the_window_and_top_n(rpc: RpcClient):
    narrow = await call(rpc, AnalyticsSummaryRequest(since=at(4), until=at(60), top_n=1))
    feedback = narrow.feedback
    assert (feedback.answers, feedback.rated_answers, feedback.rated_down) == (4, 2, 1)
    assert [d.answer_id for d in feedback.rated_down_answers] == [IDS["a4"]]
    empty = await call(rpc, AnalyticsSummaryRequest(since=at(-600), until=at(-300)))
    assert empty.feedback.answers == 0
    assert (empty.feedback.down_share, empty.feedback.down_share_of_rated) == (None, None)
    assert empty.feedback.rated_down_answers == []


async def test_feedback_summary_uses_indexes(db: asyncpg.Connection):
    scoped = await plan_of(
        db, queries.FEEDBACK_SUMMARY, at(-60), at(60), 10, FEEDBACK_CLOCK_SKEW, ["team-a"]
    )
    assert seq_scans(scoped) == []
    nodes = await plan_of(
        db, queries.FEEDBACK_SUMMARY, at(-60), at(60), 10, FEEDBACK_CLOCK_SKEW, None
    )
    assert seq_scans(nodes) == []
    answer_indexes = await db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events_answer_idx'::regclass"
    )
    used = {n.get("Index Name") for n in nodes}
    assert used & {row["relname"] for row in answer_indexes}


@pytest.fixture
async def gateway(amqp_url: str, service: FastStream) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway under uvicorn in a thread of its own (its own event loop).

    In the test's loop, beside the in-process session-logger, its RPC replies do not
    arrive (every read times out), so it gets a loop of its own, as in production.
    """
    settings = GatewaySettings(
        rabbitmq_url=amqp_url,  # type: ignore[arg-type]
        answer_score_timeout_s=1.0,
        read_timeout_s=30.0,  # a loaded test machine, not a production figure
    )
    with running_gateway(settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            yield client


async def test_feedback_through_the_gateway_reaches_the_analytics(gateway: httpx.AsyncClient):
    asked = []
    for question in ("How do I install Gazebo on macOS?", "Which simulator runs on Windows?"):
        context = ["Gazebo installs on macOS with Homebrew.", "On Windows use conda."]
        response = await gateway.post(
            "/v1/answers", json={"question": question, "context": context}
        )
        assert response.status_code == 200
        asked.append(response.json()["answer_id"])
    ratings = [
        {"answer_id": asked[0], "rating": "down", "comment": "it did not say which tap"},
        {"answer_id": asked[1], "rating": "up"},
        {"answer_id": str(uuid.uuid4()), "rating": "down"},  # unknown: accepted, orphaned
    ]
    for body in ratings:
        assert (await gateway.post("/v1/feedback", json=body)).status_code == 202

    async def summary() -> dict[str, Any]:
        response = await gateway.get("/v1/analytics/summary")
        assert response.status_code == 200
        return dict(response.json()["feedback"])

    async def all_stored() -> bool:
        feedback = await summary()
        return bool(feedback["rated_answers"] == 2 and feedback["orphaned"] == 1)

    await wait_until(all_stored, timeout=30)
    feedback = await summary()
    assert (feedback["answers"], feedback["rated_up"], feedback["rated_down"]) == (2, 1, 1)
    assert feedback["down_share"] == pytest.approx(0.5)
    (down,) = feedback["rated_down_answers"]
    assert (down["answer_id"], down["question"]) == (asked[0], "How do I install Gazebo on macOS?")
    assert down["comment"] == "it did not say which tap"
