"""The reader's highlighted text: ``context_mode`` replace (no indexer needed) and augment
(context first, then the retrieved chunks), extractive and LLM, JSON and streamed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.gateway.answer_stack import gateway, indexed, sse_events
from tests.integration.gateway.llm_server import Script, ServerState, running_llm_server

pytestmark = pytest.mark.integration

CONTEXT = ["Selected text: the gz sim -s command starts only the simulation server."]
QUESTION = "What does gz sim -s start?"


@pytest.fixture
def llm() -> Iterator[tuple[str, ServerState]]:
    with running_llm_server() as server:
        yield server


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("with_llm", [False, True], ids=["extractive", "llm"])
async def test_replace_answers_from_the_context_with_the_indexer_down(
    amqp_url: str, llm: tuple[str, ServerState], with_llm: bool, stream: bool
):
    base_url, state = llm
    state.scripts = [Script(chunks=["Only the server ", "[1]."])]
    settings = {"llm_base_url": base_url} if with_llm else {}
    body = {"question": QUESTION, "context": CONTEXT, "context_mode": "replace", "stream": stream}
    with gateway(amqp_url, answer_score_timeout_s=0.5, **settings) as client:
        response = await client.post("/v1/answers", body)
    assert response.status_code == 200, response.text
    if stream:
        events = sse_events(response.text)
        retrieval, citations, done = events[0][1], events[-2][1], events[-1][1]
        assert retrieval["query"] is None
        hits = retrieval["hits"]
        generator, cited = done["generator"], citations["citations"]
    else:
        answer = response.json()
        assert answer["query"] is None
        assert answer["retrieval_fallback_reason"] is None
        generator, cited = answer["generator"], answer["citations"]
        hits = [c["hit"] for c in cited]
    assert generator == ("llm" if with_llm else "extractive")
    assert [h["text"] for h in hits] == CONTEXT
    assert [c["hit"]["text"] for c in cited] == CONTEXT
    assert len(state.requests) == (1 if with_llm else 0)


async def test_agent_mode_with_replaced_retrieval_answers_without_tools(
    amqp_url: str, llm: tuple[str, ServerState]
):
    base_url, state = llm
    state.scripts = [Script(chunks=["Only the server [1]."])]
    body = {"question": QUESTION, "context": CONTEXT, "mode": "agent"}
    with gateway(amqp_url, llm_base_url=base_url) as client:
        response = await client.post("/v1/answers", body)
    assert response.status_code == 200, response.text
    assert response.json()["agent_fallback_reason"] == "context_replaces_retrieval"
    assert response.json()["steps"] == []
    assert "tools" not in state.requests[0]


async def test_augment_puts_the_context_before_the_retrieved_chunks(
    amqp_url: str, tmp_path: Path, llm: tuple[str, ServerState]
):
    base_url, state = llm
    state.scripts = [Script(chunks=["Server only [1]; install with brew [2]."])]
    body = {"question": QUESTION, "context": CONTEXT, "context_mode": "augment", "top_k": 2}
    async with indexed(amqp_url, tmp_path / "qdrant"):
        with gateway(amqp_url, llm_base_url=base_url) as client:
            response = await client.post("/v1/answers", body)
            streamed = await client.post("/v1/answers", body | {"stream": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["query"] == QUESTION
    cited = [c["hit"] for c in answer["citations"]]
    assert [c["number"] for c in answer["citations"]] == [1, 2]
    assert cited[0]["text"] == CONTEXT[0]
    assert cited[0]["document_id"] == "context"
    assert cited[1]["document_id"] in {"jetty/install_osx.md", "common/fuel/about.md"}
    prompt = state.requests[0]["messages"][-1]["content"]
    assert (
        prompt.index(f"[1] caller context\n{CONTEXT[0]}")
        < prompt.index("[2] ")
        < (prompt.index("[3] "))
    )
    hits = sse_events(streamed.text)[0][1]["hits"]
    assert next(h["document_id"] for h in hits) == "context"
    assert len(hits) == 3
    assert hits[1]["chunk_id"] == cited[1]["chunk_id"]


async def test_augment_without_indexer_or_session_logger_answers_from_the_context(
    amqp_url: str,
):
    body = {
        "question": QUESTION,
        "context": CONTEXT,
        "context_mode": "augment",
        "session_id": "reader-1",
    }
    with gateway(amqp_url, answer_score_timeout_s=0.5) as client:
        response = await client.post("/v1/answers", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["retrieval_fallback_reason"] == "indexer_unavailable"
    assert answer["conversation"] == {
        "turns": 0,
        "method": None,
        "reason": "session_history_unavailable",
    }
    assert answer["query"] == QUESTION
    assert [c["hit"]["text"] for c in answer["citations"]] == CONTEXT
