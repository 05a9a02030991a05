"""LLM answers: the gateway's real ``openai`` client against a scripted server on loopback.

The gateway runs against a real RabbitMQ with no indexer behind it, so every answer uses
the caller's ``context`` and every fallback is the lexical extractive answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from litestar.testing import AsyncTestClient
from pydantic import BaseModel
from tests.integration.gateway.llm_server import Script, ServerState, running_llm_server
from tests.unit.gateway.test_api import FakeBackends

from lectern.contracts import Message, SearchRequest, SearchResponse
from lectern_gateway.answers.service import context_hits
from lectern_gateway.app import create_app
from lectern_gateway.errors import ServiceUnavailableError
from lectern_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

CONTEXT = [
    "Gazebo Jetty installs on macOS with Homebrew: brew install gz-jetty.",
    "On Windows, Gazebo is installed with conda.",
]
QUESTION = {"question": "How do I install Gazebo on macOS?", "context": CONTEXT}


@pytest.fixture
def llm() -> Iterator[tuple[str, ServerState]]:
    with running_llm_server() as server:
        yield server


def _settings(amqp_url: str, base_url: str, timeout_s: float) -> GatewaySettings:
    return GatewaySettings(
        rabbitmq_url=amqp_url,  # type: ignore[arg-type]
        llm_base_url=base_url,  # type: ignore[arg-type]
        llm_model="scripted",
        llm_timeout_s=timeout_s,
        answer_score_timeout_s=1.0,
    )


@pytest.fixture
async def client(
    amqp_url: str, llm: tuple[str, ServerState]
) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(_settings(amqp_url, llm[0], 60.0))) as test_client:
        yield test_client


@pytest.fixture
async def impatient(
    amqp_url: str, llm: tuple[str, ServerState]
) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(_settings(amqp_url, llm[0], 1.0))) as test_client:
        yield test_client


async def test_llm_answer_maps_citations_and_drops_unknown_ones(
    client: AsyncTestClient[Any], llm: tuple[str, ServerState]
):
    _, state = llm
    state.scripts = [Script(chunks=["Use Homebrew: ", "brew install gz-jetty [1].", " Or [7]."])]
    response = await client.post("/v1/answers", json=QUESTION)
    assert response.status_code == 200
    body = response.json()
    assert body["generator"] == "llm"
    assert body["answer"] == "Use Homebrew: brew install gz-jetty [1]. Or ."
    assert body["dropped_citations"] == 1
    assert [c["number"] for c in body["citations"]] == [1]
    assert body["citations"][0]["hit"]["text"] == CONTEXT[0]
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    (request,) = state.requests
    assert request["model"] == "scripted"
    assert request["stream"] is True
    prompt = request["messages"][-1]["content"]
    assert f"[1] caller context\n{CONTEXT[0]}" in prompt
    assert f"[2] caller context\n{CONTEXT[1]}" in prompt
    assert "Not in the documents" in request["messages"][0]["content"]


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (Script(status=500), "llm_status_500"),
        (Script(status=429), "llm_status_429"),
        (Script(chunks=["Partly [1]", "rest"], malformed=True), "llm_malformed_reply"),
        (Script(chunks=["   "]), "llm_malformed_reply"),
    ],
    ids=["500", "429", "malformed-chunk", "empty-reply"],
)
async def test_llm_failure_falls_back_to_the_extractive_answer(
    client: AsyncTestClient[Any], llm: tuple[str, ServerState], script: Script, reason: str
):
    _, state = llm
    state.scripts = [script]
    response = await client.post("/v1/answers", json=QUESTION)
    assert response.status_code == 200
    body = response.json()
    assert body["generator"] == "extractive"
    assert body["fallback_reason"] == reason
    assert body["scorer"] == "lexical"
    assert body["answer"].startswith(CONTEXT[0])
    assert body["citations"][0]["number"] == 1


@pytest.mark.parametrize(
    "script",
    [Script(first_byte_delay_s=60), Script(chunks=["a", "b", "c"], chunk_delay_s=1.0)],
    ids=["no-first-byte", "slow-tokens"],
)
async def test_slow_llm_falls_back_within_its_timeout(
    impatient: AsyncTestClient[Any], llm: tuple[str, ServerState], script: Script
):
    _, state = llm
    state.scripts = [script]
    response = await impatient.post("/v1/answers", json=QUESTION)
    assert response.status_code == 200
    assert response.json()["fallback_reason"] == "llm_timeout"
    assert response.json()["answer"].startswith(CONTEXT[0])
    # The upstream call was abandoned: the server saw its client go away.
    assert state.disconnected.wait(timeout=30)
    assert state.finished == 0


async def test_unreachable_llm_falls_back(amqp_url: str):
    settings = GatewaySettings(
        rabbitmq_url=amqp_url,  # type: ignore[arg-type]
        llm_base_url="http://127.0.0.1:9/v1",  # type: ignore[arg-type]
        answer_score_timeout_s=1.0,
    )
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.post("/v1/answers", json=QUESTION)
    assert response.status_code == 200
    assert response.json()["fallback_reason"] == "llm_unreachable"


def _events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields.get("data", "null"))))
    return events


async def test_streamed_llm_answer_sends_events_in_order(
    client: AsyncTestClient[Any], llm: tuple[str, ServerState]
):
    _, state = llm
    state.scripts = [Script(chunks=["Use Homebrew ", "[", "1] and not [", "7]", "."])]
    response = await client.post("/v1/answers", json=QUESTION | {"stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "retrieval"
    assert names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"token"}
    text = "".join(data["text"] for name, data in events if name == "token")
    assert text == "Use Homebrew [1] and not ."
    citations = events[-2][1]
    assert [c["number"] for c in citations["citations"]] == [1]
    assert citations["dropped_citations"] == 1
    done = events[-1][1]
    assert done["generator"] == "llm"
    assert done["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert set(done["timings"]) == {"retrieval_ms", "first_token_ms", "total_ms"}


async def test_streamed_answer_falls_back_to_extractive_tokens(
    client: AsyncTestClient[Any], llm: tuple[str, ServerState]
):
    _, state = llm
    state.scripts = [Script(status=500)]
    response = await client.post(
        "/v1/answers", json=QUESTION, headers={"Accept": "text/event-stream"}
    )
    events = _events(response.text)
    text = "".join(data["text"] for name, data in events if name == "token")
    assert text.startswith(CONTEXT[0] + " [1]")
    done = events[-1][1]
    assert done["generator"] == "extractive"
    assert done["fallback_reason"] == "llm_status_500"
    assert done["scorer"] == "lexical"


def _search_only(service: str, request: Message) -> BaseModel:
    if isinstance(request, SearchRequest):
        return SearchResponse(hits=context_hits(CONTEXT), latency_ms=1.0)
    raise ServiceUnavailableError("the indexer cannot score")


async def test_openai_sdk_talks_to_chat_completions(llm: tuple[str, ServerState]):
    base_url, state = llm
    backends = FakeBackends(_settings("amqp://unused", base_url, 60.0))
    backends.reply = _search_only
    app = create_app(backends.settings, backends=backends)
    state.scripts = [Script(chunks=["Run brew install gz-jetty ", "[1]."])]
    question = "How do I install Gazebo on macOS?"
    async with AsyncTestClient(app) as client:
        sdk = openai.AsyncOpenAI(
            base_url="http://testserver.local/v1", api_key="unused", http_client=client
        )
        models = await sdk.models.list()
        completion = await sdk.chat.completions.create(
            model="lectern", messages=[{"role": "user", "content": question}]
        )
        state.scripts = [Script(chunks=["Partial ", "answer [2]."])]
        stream = await sdk.chat.completions.create(
            model="lectern", messages=[{"role": "user", "content": question}], stream=True
        )
        deltas = [chunk async for chunk in stream]
    assert [m.id for m in models.data] == ["lectern"]
    message = completion.choices[0].message
    assert completion.object == "chat.completion"
    assert message.content == "Run brew install gz-jetty [1]."
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 7
    assert message.model_extra is not None
    assert [s["hit"]["text"] for s in message.model_extra["sources"]] == [CONTEXT[0]]
    assert all(c.object == "chat.completion.chunk" for c in deltas)
    assert "".join(c.choices[0].delta.content or "" for c in deltas) == "Partial answer [2]."
    final = deltas[-1].choices[0]
    assert final.finish_reason == "stop"
    assert final.delta.model_extra is not None
    assert [s["number"] for s in final.delta.model_extra["sources"]] == [2]
