"""The read server answers ping over RPC, through the shared RpcClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faststream import FastStream
from pydantic import TypeAdapter

from lectern import topology
from lectern.contracts import PingRequest, PingResponse, RpcError
from lectern.reads import ReadReply
from lectern.rpc import RpcClient

pytestmark = pytest.mark.integration

REPLY: TypeAdapter[ReadReply] = TypeAdapter(ReadReply)


@pytest.fixture
async def rpc(amqp_url: str, service: FastStream) -> AsyncIterator[RpcClient]:
    client = RpcClient(amqp_url, name="test")
    await client.connect()
    yield client
    await client.close()


async def test_ping_reports_postgres(rpc: RpcClient):
    raw = await rpc.call(
        topology.SESSION_LOGGER_RPC_QUEUE, PingRequest().model_dump_json().encode(), timeout=5
    )
    reply = REPLY.validate_json(raw)
    assert reply == PingResponse(service="session-logger", store="postgres", store_ok=True)


async def test_malformed_request_gets_a_400(rpc: RpcClient):
    raw = await rpc.call(topology.SESSION_LOGGER_RPC_QUEUE, b'{"kind": "nope"}', timeout=5)
    reply = REPLY.validate_json(raw)
    assert isinstance(reply, RpcError)
    assert reply.status == 400
