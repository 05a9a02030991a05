"""Agentic answers: the gateway's real ``openai`` client against the scripted loopback
server, its searches through a real indexer holding two real documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.gateway.answer_stack import (
    gateway,
    indexed,
    sse_events,
    take_event,
)
from tests.integration.gateway.llm_server import Script, ServerState, running_llm_server

pytestmark = pytest.mark.integration

QUESTION = "How do I install Gazebo on macOS?"


@pytest.fixture
def llm() -> Iterator[tuple[str, ServerState]]:
    with running_llm_server() as server:
        yield server


def _first_seen(steps: list[dict[str, Any]]) -> list[str]:
    """The answer's numbering: chunk ids in order of first appearance over the steps."""
    return list(dict.fromkeys(c for step in steps for c in step["chunk_ids"]))


def _tool(query: str) -> Script:
    return Script(chunks=[], tool_calls=[("search", {"query": query})])


async def test_agent_stops_searching_at_its_step_limit(
    amqp_url: str, tmp_path: Path, llm: tuple[str, ServerState]
):
    base_url, state = llm
    state.scripts = [
        _tool("What is Fuel?"),
        _tool("uninstall gz-jetty with brew"),
        Script(chunks=["Fuel hosts assets [2]. ", "Uninstall: brew uninstall [3]. ", "No [9]."]),
    ]
    body = {"question": QUESTION, "mode": "agent", "top_k": 1}
    async with indexed(amqp_url, tmp_path / "qdrant"):
        with gateway(amqp_url, llm_base_url=base_url, agent_max_steps=2) as client:
            response = await client.post("/v1/answers", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["generator"] == "llm"
    assert answer["agent_fallback_reason"] is None
    steps = answer["steps"]
    assert [(s["origin"], s["query"]) for s in steps] == [
        ("question", QUESTION),
        ("tool", "What is Fuel?"),
        ("tool", "uninstall gz-jetty with brew"),
    ]
    assert all(s["error"] is None and s["latency_ms"] > 0 for s in steps)
    # Two tool rounds, then the tools are withdrawn and the model must answer.
    assert len(state.requests) == 3
    assert [bool(r.get("tools")) for r in state.requests] == [True, True, False]
    assert state.requests[0]["tools"][0]["function"]["name"] == "search"
    # The tool call's arguments, streamed in two halves, were joined; one reply per call.
    assistant, tool = state.requests[1]["messages"][-2:]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "query": "What is Fuel?"
    }
    assert tool["role"] == "tool"
    assert tool["tool_call_id"] == "call_0"
    # Citations map over the chunks of every step, numbered in order of first appearance.
    numbering = _first_seen(steps)
    assert len(numbering) == 3
    assert [c["number"] for c in answer["citations"]] == [2, 3]
    assert [c["hit"]["chunk_id"] for c in answer["citations"]] == numbering[1:]
    assert "Fuel" in answer["citations"][0]["hit"]["text"]
    assert answer["dropped_citations"] == 1
    final_prompt = state.requests[2]["messages"][-1]["content"]
    assert all(f"[{n}] " in final_prompt for n in (1, 2, 3))
    event = await take_event(amqp_url, answer["request_id"])
    assert event["event_type"] == "answer.completed"
    assert event["steps"] == steps
    assert event["cited_chunk_ids"] == numbering[1:]


async def test_streamed_agent_sends_a_step_event_per_search(
    amqp_url: str, tmp_path: Path, llm: tuple[str, ServerState]
):
    base_url, state = llm
    state.scripts = [_tool("What is Fuel?"), Script(chunks=["Fuel is a web ", "app [2]."])]
    body = {"question": QUESTION, "mode": "agent", "top_k": 1, "stream": True}
    async with indexed(amqp_url, tmp_path / "qdrant"):
        with gateway(amqp_url, llm_base_url=base_url) as client:
            response = await client.post("/v1/answers", body)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[:2] == ["retrieval", "step"]
    assert set(names[2:-2]) == {"token"}
    assert names[-2:] == ["citations", "done"]
    step = events[1][1]
    assert step["origin"] == "tool"
    assert step["query"] == "What is Fuel?"
    assert [h["number"] for h in step["hits"]] == [2]
    assert [h["hit"]["chunk_id"] for h in step["hits"]] == step["chunk_ids"]
    text = "".join(data["text"] for name, data in events if name == "token")
    assert text == "Fuel is a web app [2]."
    citations = events[-2][1]["citations"]
    assert [c["hit"]["chunk_id"] for c in citations] == step["chunk_ids"]
    done = events[-1][1]
    assert [s["origin"] for s in done["steps"]] == ["question", "tool"]
    assert done["steps"][1] == {k: v for k, v in step.items() if k != "hits"}
    # The model answered while tools were still offered: two requests, both with tools.
    assert [bool(r.get("tools")) for r in state.requests] == [True, True]


@pytest.mark.parametrize(
    ("script", "reason"),
    [(Script(refuse_tools=400), "tools_refused_400"), (Script(chunks=[]), "no_tool_calls")],
    ids=["server-refuses-tools", "no-tool-calls-no-text"],
)
async def test_models_without_tools_answer_from_one_retrieval(
    amqp_url: str, tmp_path: Path, llm: tuple[str, ServerState], script: Script, reason: str
):
    base_url, state = llm
    state.scripts = [script, Script(chunks=["Use brew install gz-jetty [1]."])]
    body = {"question": QUESTION, "mode": "agent", "top_k": 2}
    async with indexed(amqp_url, tmp_path / "qdrant"):
        with gateway(amqp_url, llm_base_url=base_url) as client:
            response = await client.post("/v1/answers", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["generator"] == "llm"
    assert answer["agent_fallback_reason"] == reason
    assert answer["answer"] == "Use brew install gz-jetty [1]."
    assert [s["origin"] for s in answer["steps"]] == ["question"]
    assert answer["citations"][0]["hit"]["chunk_id"] == answer["steps"][0]["chunk_ids"][0]
    assert [bool(r.get("tools")) for r in state.requests] == [True, False]
