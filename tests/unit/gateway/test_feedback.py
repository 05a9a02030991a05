"""``POST /v1/feedback`` with fake backends at the adapter seam (no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from tests.unit.gateway.test_api import PROBLEM, FakeBackends

from lectern.contracts import FEEDBACK_COMMENT_MAX_CHARS, AnswerCompleted, Event, FeedbackGiven
from lectern_gateway.app import create_app
from lectern_gateway.errors import ServiceUnavailableError
from lectern_gateway.settings import GatewaySettings

ANSWER_ID = "0b7f1c52-4d0e-4c8e-9a55-2f3c8f7b9d11"


@pytest.fixture
def backends() -> FakeBackends:
    return FakeBackends(GatewaySettings(answer_score_timeout_s=0.5))


@pytest.fixture
def client(backends: FakeBackends) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(backends.settings, backends=backends)) as test_client:
        yield test_client


def _feedback(events: list[Event]) -> list[FeedbackGiven]:
    return [e for e in events if isinstance(e, FeedbackGiven)]


def test_feedback_publishes_feedback_given(client: TestClient[Any], backends: FakeBackends):
    body = {"answer_id": ANSWER_ID.upper(), "rating": "down", "comment": "  wrong OS  "}
    response = client.post("/v1/feedback", json=body | {"session_id": "s-1"})
    assert response.status_code == 202
    (event,) = _feedback(backends.events)
    assert (event.answer_id, event.rating, event.comment) == (ANSWER_ID, "down", "wrong OS")
    assert event.session_id == "s-1" == response.headers["x-session-id"]
    assert event.principal is not None
    assert event.principal.startswith("addr:")
    assert event.correlation_id == response.headers["x-request-id"]
    assert response.json() == {
        "feedback_id": str(event.event_id),
        "answer_id": ANSWER_ID,
        "rating": "down",
        "request_id": event.correlation_id,
    }


def test_feedback_without_session_or_comment(client: TestClient[Any], backends: FakeBackends):
    response = client.post("/v1/feedback", json={"answer_id": ANSWER_ID, "rating": "up"})
    assert response.status_code == 202
    (event,) = _feedback(backends.events)
    assert (event.session_id, event.comment, event.rating) == (None, None, "up")
    assert "x-session-id" not in response.headers


def test_an_answer_can_be_rated_by_its_answer_id(client: TestClient[Any], backends: FakeBackends):
    backends.reply = ServiceUnavailableError("no indexer")
    question = {"question": "How to install?", "context": ["Install it with brew."]}
    answer = client.post("/v1/answers", json=question)
    assert answer.status_code == 200
    answer_id = answer.json()["answer_id"]
    rated = client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "down"})
    assert rated.status_code == 202
    (completed,) = [e for e in backends.events if isinstance(e, AnswerCompleted)]
    assert _feedback(backends.events)[0].answer_id == completed.answer_id == answer_id


@pytest.mark.parametrize(
    "body",
    [
        {"rating": "up"},
        {"answer_id": ANSWER_ID},
        {"answer_id": ANSWER_ID, "rating": "meh"},
        {"answer_id": ANSWER_ID, "rating": 1},
        {"answer_id": "not-a-uuid", "rating": "up"},
        {"answer_id": ANSWER_ID + "0", "rating": "up"},
        {"answer_id": 7, "rating": "up"},
        {"answer_id": ANSWER_ID, "rating": "up", "comment": 3},
        {"answer_id": ANSWER_ID, "rating": "up", "comment": "x" * (FEEDBACK_COMMENT_MAX_CHARS + 1)},
        {"answer_id": ANSWER_ID, "rating": "up", "session_id": "a b"},
        {"answer_id": ANSWER_ID, "rating": "up", "stars": 5},
    ],
    ids=[
        "no-answer-id",
        "no-rating",
        "unknown-rating",
        "rating-not-text",
        "answer-id-not-uuid",
        "answer-id-too-long",
        "answer-id-not-text",
        "comment-not-text",
        "comment-too-long",
        "bad-session-id",
        "unknown-field",
    ],
)
def test_bad_feedback_is_a_400_problem(
    client: TestClient[Any], backends: FakeBackends, body: dict[str, Any]
):
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["status"] == 400
    assert _feedback(backends.events) == []


def test_unconfirmed_feedback_is_503(client: TestClient[Any], backends: FakeBackends):
    async def refuse(event: Event) -> None:
        raise ServiceUnavailableError("event not confirmed by the broker")

    backends.publish_event = refuse  # type: ignore[method-assign]
    response = client.post("/v1/feedback", json={"answer_id": ANSWER_ID, "rating": "up"})
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert response.headers["content-type"].startswith(PROBLEM)


@settings(max_examples=40, deadline=None)
@given(
    answer_id=st.uuids(),
    rating=st.sampled_from(["up", "down"]),
    comment=st.none() | st.text(max_size=FEEDBACK_COMMENT_MAX_CHARS),
)
def test_any_valid_feedback_is_recorded_as_sent(
    answer_id: uuid.UUID, rating: str, comment: str | None
):
    backends = FakeBackends(GatewaySettings())
    body = {"answer_id": str(answer_id), "rating": rating, "comment": comment}
    with TestClient(create_app(backends.settings, backends=backends)) as client:
        response = client.post("/v1/feedback", json=body)
    assert response.status_code == 202
    (event,) = _feedback(backends.events)
    assert (event.answer_id, event.rating) == (str(answer_id), rating)
    assert event.comment == ((comment or "").strip() or None)
