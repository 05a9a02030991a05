"""Follow-up questions: the session's earlier turns (read from a real session-logger over
RabbitMQ and Postgres) make the question standalone before a real indexer searches it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.gateway.answer_stack import Gateway, gateway, indexed, sse_events, until
from tests.integration.gateway.llm_server import Script, ServerState, running_llm_server
from tests.integration.session_logger.conftest import make_settings, running

from lectern_gateway.answers.conversation import REWRITE_PROMPT
from lectern_session_logger.app import create_app as create_session_logger_app
from lectern_session_logger.migrations import run_migrations

pytestmark = pytest.mark.integration

FIRST = "How do I install Gazebo Jetty on macOS?"
FOLLOW_UP = "How do I remove it?"
STANDALONE = "How do I uninstall Gazebo Jetty on macOS?"


@pytest.fixture
def llm() -> Iterator[tuple[str, ServerState]]:
    with running_llm_server() as server:
        yield server


@pytest.fixture
async def session_logger(amqp_url: str, database_url: str) -> AsyncIterator[None]:
    settings = make_settings(amqp_url, database_url)
    await run_migrations(settings)
    async with running(create_session_logger_app(settings)):
        yield


async def _answered(client: Gateway, session_id: str, count: int) -> None:
    async def stored() -> bool:
        response = await client.get(f"/v1/sessions/{session_id}")
        return response.status_code == 200 and response.json()["answer_count"] >= count

    await until(stored)


async def _search_ids(client: Gateway, query: str, top_k: int) -> list[str]:
    response = await client.post("/v1/search", {"query": query, "top_k": top_k})
    assert response.status_code == 200, response.text
    return [hit["chunk_id"] for hit in response.json()["hits"]]


def _cited_ids(answer: dict[str, Any]) -> list[str]:
    return [c["hit"]["chunk_id"] for c in answer["citations"]]


async def test_follow_up_is_rewritten_by_the_llm_before_retrieval(
    amqp_url: str, tmp_path: Path, llm: tuple[str, ServerState], session_logger: None
):
    base_url, state = llm
    session = {"session_id": "reader-rewrite", "top_k": 2}
    async with indexed(amqp_url, tmp_path / "qdrant"):
        with gateway(amqp_url, llm_base_url=base_url) as client:
            state.scripts = [Script(chunks=["Use brew install gz-jetty [1]."])]
            first = await client.post("/v1/answers", {"question": FIRST} | session)
            assert first.status_code == 200, first.text
            assert first.json()["conversation"]["turns"] == 0
            await _answered(client, "reader-rewrite", 1)

            state.scripts = [Script(chunks=[f'"{STANDALONE}"']), Script(chunks=["[1] [2]"])]
            follow = await client.post("/v1/answers", {"question": FOLLOW_UP} | session)
            expected = await _search_ids(client, STANDALONE, 2)
            raw = await _search_ids(client, FOLLOW_UP, 2)

            state.scripts = [Script(status=500), Script(chunks=["[1] [2]"])]
            failed = await client.post("/v1/answers", {"question": FOLLOW_UP} | session)
    assert follow.status_code == 200, follow.text
    answer = follow.json()
    assert answer["conversation"] == {"turns": 1, "method": "llm_rewrite", "reason": None}
    assert answer["query"] == STANDALONE
    assert answer["question"] == FOLLOW_UP
    # The server saw the rewrite request: the earlier turn, then the follow-up.
    rewrite = state.requests[1]["messages"]
    assert rewrite[0]["content"] == REWRITE_PROMPT
    assert f"User: {FIRST}\nAssistant: Use brew install gz-jetty [1]." in rewrite[1]["content"]
    assert rewrite[1]["content"].endswith(f"Follow-up question: {FOLLOW_UP}")
    # ...and the search used the rewritten query (the same hits /v1/search gives it).
    assert _cited_ids(answer) == expected != raw
    assert "uninstall" in answer["citations"][0]["hit"]["text"]
    assert state.requests[2]["messages"][-1]["content"].endswith(f"Question: {STANDALONE}")
    # A rewrite that fails searches the raw question.
    assert failed.json()["conversation"]["reason"] == "rewrite_llm_status_500"
    assert failed.json()["query"] == FOLLOW_UP
    assert _cited_ids(failed.json()) == raw


async def test_chat_completions_use_the_earlier_messages(
    amqp_url: str, tmp_path: Path, llm: tuple[str, ServerState]
):
    base_url, state = llm
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "Use brew install gz-jetty [1]."},
        {"role": "user", "content": FOLLOW_UP},
    ]
    state.scripts = [Script(chunks=[STANDALONE]), Script(chunks=["brew uninstall [1]."])]
    async with indexed(amqp_url, tmp_path / "qdrant"):
        with gateway(amqp_url, llm_base_url=base_url) as client:
            response = await client.post(
                "/v1/chat/completions", {"model": "lectern", "messages": messages}
            )
            expected = await _search_ids(client, STANDALONE, 5)
    assert response.status_code == 200, response.text
    rewrite, answer = state.requests
    assert rewrite["messages"][0]["content"] == REWRITE_PROMPT
    assert f"User: {FIRST}" in rewrite["messages"][1]["content"]
    assert answer["messages"][-1]["content"].endswith(f"Question: {STANDALONE}")
    sources = response.json()["choices"][0]["message"]["sources"]
    assert [s["hit"]["chunk_id"] for s in sources] == expected[:1]


async def test_without_an_llm_the_previous_question_terms_are_carried(
    amqp_url: str, tmp_path: Path, session_logger: None
):
    session = {"session_id": "reader-carry", "top_k": 2}
    carried = "How do I uninstall it? install gazebo jetty macos"
    async with indexed(amqp_url, tmp_path / "qdrant"):
        with gateway(amqp_url) as client:
            first = await client.post("/v1/answers", {"question": FIRST} | session)
            assert first.status_code == 200, first.text
            await _answered(client, "reader-carry", 1)
            follow = await client.post(
                "/v1/answers", {"question": "How do I uninstall it?", "stream": True} | session
            )
            expected = await _search_ids(client, carried, 2)
            raw = await _search_ids(client, "How do I uninstall it?", 2)
            await _answered(client, "reader-carry", 2)
            history = (await client.get("/v1/sessions/reader-carry")).json()
    assert follow.status_code == 200, follow.text
    events = dict(sse_events(follow.text))
    retrieval = events["retrieval"]
    assert retrieval["conversation"] == {"turns": 1, "method": "carried_terms", "reason": None}
    assert retrieval["query"] == carried
    # The search used the carried query: its hits are what /v1/search gives that query.
    assert [hit["chunk_id"] for hit in retrieval["hits"]] == expected != raw
    assert events["done"]["generator"] == "extractive"
    text = "".join(data["text"] for name, data in sse_events(follow.text) if name == "token")
    assert "uninstall" in text
    # The event keeps the query searched, so a next follow-up carries from it.
    payloads = [
        i["payload"] for i in history["interactions"] if i["event_type"] == "answer.completed"
    ]
    assert [p.get("search_query") for p in payloads] == [None, carried]
