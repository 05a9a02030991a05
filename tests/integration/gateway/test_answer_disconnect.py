"""A client that goes away mid-stream cancels the gateway's upstream LLM request.

Everything speaks real HTTP over loopback sockets: the test's ``httpx`` client →
the gateway under uvicorn (real RabbitMQ behind it) → its ``openai`` client → the
scripted LLM server, which streams slowly and records when its client disconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from tests.integration.gateway.live_gateway import running_gateway
from tests.integration.gateway.llm_server import Script, ServerState, running_llm_server

from lectern_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

SLOW_REPLY = Script(chunks=["word "] * 2000, chunk_delay_s=0.05)
"""100 s of tokens: far longer than the test waits, so only a cancel ends it early."""
BODY = {
    "question": "How do I install Gazebo on macOS?",
    "context": ["Gazebo installs on macOS with Homebrew: brew install gz-jetty."],
    "stream": True,
}


@pytest.fixture
def llm() -> Iterator[tuple[str, ServerState]]:
    with running_llm_server() as server:
        yield server


@pytest.fixture
def gateway(amqp_url: str, llm: tuple[str, ServerState]) -> Iterator[str]:
    settings = GatewaySettings(
        rabbitmq_url=amqp_url,  # type: ignore[arg-type]
        llm_base_url=llm[0],  # type: ignore[arg-type]
        llm_model="scripted",
        llm_timeout_s=300.0,  # the LLM's own timeout must not be what ends the call
    )
    with running_gateway(settings) as base_url:
        yield base_url


async def _read_until_first_token(response: httpx.Response) -> str:
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "token":
            return line.removeprefix("data: ")
    raise AssertionError("the stream ended before its first token")


async def test_closing_the_stream_cancels_the_llm_request(
    gateway: str, llm: tuple[str, ServerState]
):
    _, state = llm
    state.scripts = [SLOW_REPLY]
    async with (
        httpx.AsyncClient(base_url=gateway, timeout=60) as client,
        client.stream("POST", "/v1/answers", json=BODY) as response,
    ):
        assert response.status_code == 200
        first = await _read_until_first_token(response)
    # Leaving the block closes the half-read response, hence the connection.
    assert "word" in first
    assert len(state.requests) == 1
    assert await asyncio.to_thread(state.disconnected.wait, 30), "the LLM call was not cancelled"
    assert state.finished == 0
