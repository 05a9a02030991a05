"""Agentic and conversational answers without I/O: numbering, carried terms, tool args, the
agent loop (a scripted LLM and fake backends at the adapter seam)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from tests.unit.gateway.test_api import FakeBackends

from lectern.contracts import Message, SearchHit, SearchRequest, SearchResponse
from lectern_gateway.answers.agent import Agent
from lectern_gateway.answers.conversation import Turn, carry_terms, message_turns, turn_of
from lectern_gateway.answers.llm import ToolCall, Usage
from lectern_gateway.answers.pool import HitPool
from lectern_gateway.answers.search_tool import parse_search_arguments
from lectern_gateway.answers.sentences import STOP_WORDS, stem, terms, words
from lectern_gateway.settings import GatewaySettings


def _hit(chunk_id: str) -> SearchHit:
    return SearchHit(
        chunk_id=chunk_id,
        document_id="d",
        title="t",
        source=None,
        heading_path=[],
        text=f"text of {chunk_id}",
        score=0.0,
    )


steps_strategy = st.lists(
    st.lists(st.sampled_from([f"c{n}" for n in range(12)]), max_size=6), max_size=5
)


@given(steps_strategy)
def test_numbers_are_stable_across_steps(steps: list[list[str]]):
    pool = HitPool()
    seen: dict[str, int] = {}
    for step in steps:
        numbers = pool.add(_hit(c) for c in step)
        for chunk_id, number in zip(step, numbers, strict=True):
            # A chunk keeps its first number; [n] always names hits[n - 1].
            assert seen.setdefault(chunk_id, number) == number
            assert pool.hits[number - 1].chunk_id == chunk_id
    first_seen = list(dict.fromkeys(c for step in steps for c in step))
    assert [h.chunk_id for h in pool.hits] == first_seen
    assert len(pool) == len(first_seen)


@given(steps_strategy, st.lists(st.integers(min_value=-3, max_value=20), max_size=8))
def test_cited_maps_valid_numbers_and_skips_others(steps: list[list[str]], numbers: list[int]):
    pool = HitPool()
    for step in steps:
        pool.add(_hit(c) for c in step)
    cited = pool.cited(numbers)
    assert [h.chunk_id for h in cited] == [
        pool.hits[n - 1].chunk_id for n in numbers if 1 <= n <= len(pool)
    ]


def test_carry_terms_appends_the_previous_content_words_the_follow_up_lacks():
    previous = "How do I install Gazebo Jetty on macOS?"
    assert carry_terms("How do I uninstall it?", previous) == (
        "How do I uninstall it? install gazebo jetty macos"
    )
    # Words whose stem the follow-up already has are not repeated.
    assert carry_terms("Which Gazebo installs on macOS?", previous) == (
        "Which Gazebo installs on macOS? jetty"
    )
    assert carry_terms("And then?", "the of and") == "And then?"


@given(
    st.text(alphabet="abcdefgh ?", min_size=1, max_size=40),
    st.text(alphabet="abcdefgh ?.-", max_size=80),
    st.integers(min_value=0, max_value=10),
)
def test_carried_terms_are_bounded_new_content_words(question: str, previous: str, limit: int):
    query = carry_terms(question, previous, limit)
    assert query.startswith(question)
    carried = query[len(question) :].split()
    assert len(carried) <= limit
    assert len({stem(w) for w in carried}) == len(carried)
    for word in carried:
        assert word in words(previous)
        assert word not in STOP_WORDS
        assert stem(word) not in terms(question)
    if len(carried) < limit:  # everything new was carried: carrying again adds nothing
        assert carry_terms(query, previous, limit) == query


def test_message_turns_pair_questions_with_the_replies_after_them():
    messages = [
        ("system", "be brief"),
        ("user", "What is Fuel?"),
        ("assistant", "A web app [1]."),
        ("user", "Who runs it?"),
        ("user", "And where is it?"),
        ("assistant", "Online."),
    ]
    assert message_turns(messages) == [
        Turn("What is Fuel?", "A web app [1]."),
        Turn("Who runs it?"),
        Turn("And where is it?", "Online."),
    ]
    assert len(message_turns([("user", str(n)) for n in range(10)])) == 3


def test_turn_of_reads_an_answer_event_payload():
    payload = {"question": "q", "answer": "a", "search_query": "q more"}
    assert turn_of(payload) == Turn("q", "a", "q more")
    assert turn_of({"question": "q", "search_query": None}) == Turn("q")


def test_search_arguments_are_parsed_and_checked():
    arguments = {"query": " fuel ", "filter": {"sources": ["a"]}, "collections": ["docs"]}
    query, found, collections = parse_search_arguments(json.dumps(arguments))
    assert query == "fuel"
    assert found is not None
    assert found.sources == ["a"]
    assert collections == ["docs"]
    assert parse_search_arguments('{"query": "x"}') == ("x", None, None)


@pytest.mark.parametrize(
    "arguments",
    [
        "",
        "{not json",
        "[]",
        '{"query": "  "}',
        '{"query": 3}',
        json.dumps({"query": "x" * 4097}),
        '{"query": "x", "filter": {"colour": "red"}}',
        '{"query": "x", "collections": "docs"}',
    ],
)
def test_bad_search_arguments_are_refused(arguments: str):
    with pytest.raises(ValueError):
        parse_search_arguments(arguments)


class ScriptedLlm:
    """An :class:`LlmClient` stand-in: each tool round and final answer from a script."""

    timeout_s = 5.0

    def __init__(self, rounds: list[tuple[str, list[ToolCall]]], final: str) -> None:
        self.rounds = rounds
        self.final = final
        self.calls: list[str] = []

    async def tool_round(self, messages: Any, tools: Any, usage: Usage, on_text: Any) -> Any:
        self.calls.append("tools")
        text, calls = self.rounds.pop(0)
        if text:
            await on_text(text)
        return calls

    async def stream(self, messages: Any, usage: Usage) -> AsyncIterator[str]:
        self.calls.append("final")
        yield self.final


def _search_reply(service: str, request: Message) -> BaseModel:
    assert isinstance(request, SearchRequest)
    return SearchResponse(hits=[_hit(f"found-{request.query}")], latency_ms=1.0)


async def _run_agent(llm: ScriptedLlm, max_steps: int) -> Agent:
    backends = FakeBackends(GatewaySettings(agent_max_steps=max_steps))
    backends.reply = _search_reply

    async def ignore(*_: object) -> None:
        return None

    pool = HitPool([_hit("question-hit")])
    agent = Agent(backends, llm, "q", pool, (1, None, None), "r", ignore, ignore)  # type: ignore[arg-type]
    await agent.run()
    return agent


async def test_text_before_a_tool_call_does_not_end_the_agent():
    call = ToolCall(id="c1", name="search", arguments='{"query": "more"}')
    llm = ScriptedLlm([("Let me look. ", [call]), ("", [])], final="Found [2].")
    agent = await _run_agent(llm, max_steps=3)
    assert llm.calls == ["tools", "tools", "final"]
    assert agent.cleaner.text == "Let me look. Found [2]."
    assert agent.cleaner.cited == {2}
    assert [s.query for s in agent.steps] == ["more"]
    assert agent.pool.hits[1].chunk_id == "found-more"


@given(st.integers(min_value=0, max_value=5))
async def test_the_agent_never_exceeds_its_step_limit(max_steps: int):
    calls = [
        ToolCall(id=f"c{n}", name="search", arguments=f'{{"query": "q{n}"}}') for n in range(9)
    ]
    llm = ScriptedLlm([("", [call]) for call in calls], final="Done [1].")
    agent = await _run_agent(llm, max_steps)
    assert llm.calls == ["tools"] * max_steps + ["final"]
    assert len(agent.steps) == max_steps
    assert len(agent.pool) == 1 + max_steps
