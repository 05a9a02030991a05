"""RpcClient against a real RabbitMQ: concurrency, timeouts, absent servers, expiration."""

from __future__ import annotations

import asyncio
import json
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


async def _serve_together(
    amqp_url: str, queue_name: str, together: int
) -> aio_pika.abc.AbstractConnection:
    """An echo server that answers only once ``together`` requests are held at once."""
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=together)
    queue = await channel.declare_queue(queue_name, durable=True)
    held: list[AbstractIncomingMessage] = []
    all_in = asyncio.Event()

    async def handle(message: AbstractIncomingMessage) -> None:
        async with message.process():
            held.append(message)
            if len(held) == together:
                all_in.set()
            await all_in.wait()
            body = json.loads(message.body)
            body["expiration"] = message.expiration
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(body).encode(), correlation_id=message.correlation_id),
                routing_key=message.reply_to or "",
            )

    await queue.consume(handle)
    return connection


async def test_many_requests_are_in_flight_at_once(amqp_url: str, client: RpcClient):
    # The server answers none until it holds all 50: a client that serialised its
    # requests would see its first one time out.
    server = await _serve_together(amqp_url, "echo.rpc", together=50)
    try:
        assert await client.consumer_count("echo.rpc") == 1  # one probe, cached for all 50
        replies = await asyncio.gather(
            *(client.call("echo.rpc", json.dumps({"n": n}).encode(), timeout=60) for n in range(50))
        )
    finally:
        await server.close()
    assert sorted(json.loads(r)["n"] for r in replies) == list(range(50))
    assert json.loads(replies[0])["expiration"] == 60


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
    # NoConsumerError, not a timeout: the client does not wait out its 600 s for a reply
    # (the 60 s give-up deadline would fire first).
    async with asyncio.timeout(60):
        with pytest.raises(NoConsumerError):
            await client.call("nobody.rpc", b"{}", timeout=600)
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
        async with asyncio.timeout(60):  # found once the consumer-count cache expires
            while True:
                try:
                    reply = await client.call("late.rpc", b'{"n": 1}', timeout=2)
                except NoConsumerError:
                    await asyncio.sleep(0.2)
                    continue
                break
        assert json.loads(reply)["n"] == 1
    finally:
        await server.close()
