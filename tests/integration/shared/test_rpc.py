"""RpcClient against a real RabbitMQ: concurrency, timeouts, absent servers, expiration."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from lectern.rpc import NoConsumerError, RpcClient, RpcTimeoutError

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(amqp_url: str) -> AsyncIterator[RpcClient]:
    rpc = RpcClient(amqp_url, name="test")
    await rpc.connect()
    yield rpc
    await rpc.close()


async def _serve(amqp_url: str, queue_name: str, delay_s: float) -> aio_pika.abc.AbstractConnection:
    """Start an echo server that answers after ``delay_s`` (concurrently)."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=100)
    queue = await channel.declare_queue(queue_name, durable=True)

    async def handle(message: AbstractIncomingMessage) -> None:
        async with message.process():
            await asyncio.sleep(delay_s)
            body = json.loads(message.body)
            body["expiration"] = message.expiration
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(body).encode(), correlation_id=message.correlation_id),
                routing_key=message.reply_to or "",
            )

    await queue.consume(handle)
    return connection


async def test_many_requests_are_in_flight_at_once(amqp_url: str, client: RpcClient):
    server = await _serve(amqp_url, "echo.rpc", delay_s=0.5)
    try:
        started = time.perf_counter()
        replies = await asyncio.gather(
            *(client.call("echo.rpc", json.dumps({"n": n}).encode(), timeout=5) for n in range(50))
        )
        elapsed = time.perf_counter() - started
    finally:
        await server.close()
    assert sorted(json.loads(r)["n"] for r in replies) == list(range(50))
    # 50 requests of 0.5 s each would take 25 s if serialised.
    assert elapsed < 5
    assert json.loads(replies[0])["expiration"] == 5


async def test_timeout_raises_and_does_not_block_others(amqp_url: str, client: RpcClient):
    slow = await _serve(amqp_url, "slow.rpc", delay_s=3)
    fast = await _serve(amqp_url, "fast.rpc", delay_s=0)
    try:
        slow_call = asyncio.create_task(client.call("slow.rpc", b"{}", timeout=1))
        fast_reply = await client.call("fast.rpc", b'{"ok": 1}', timeout=1)
        assert json.loads(fast_reply)["ok"] == 1
        with pytest.raises(RpcTimeoutError):
            await slow_call
    finally:
        await slow.close()
        await fast.close()


async def test_absent_server_fails_fast(client: RpcClient):
    started = time.perf_counter()
    with pytest.raises(NoConsumerError):
        await client.call("nobody.rpc", b"{}", timeout=5)
    assert time.perf_counter() - started < 3
    # The client still works after the failed passive declare.
    with pytest.raises(NoConsumerError):
        await client.call("nobody.rpc", b"{}", timeout=5)


async def test_a_server_that_appears_later_is_found(amqp_url: str, client: RpcClient):
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue("late.rpc", durable=True)
    with pytest.raises(NoConsumerError):
        await client.call("late.rpc", b"{}", timeout=2)
    server = await _serve(amqp_url, "late.rpc", delay_s=0)
    try:
        await asyncio.sleep(1.2)  # past the consumer-count cache
        assert json.loads(await client.call("late.rpc", b'{"n": 1}', timeout=2))["n"] == 1
    finally:
        await server.close()
