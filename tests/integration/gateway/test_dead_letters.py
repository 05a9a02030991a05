"""Operators list and replay dead-lettered messages through the gateway (real RabbitMQ)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import aio_pika
import pytest
from litestar.testing import AsyncTestClient

from lectern import topology
from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

WAIT_S = 30.0
SHARD = topology.indexer_shard_queue_name(0)
"""One of the indexer's shard queues (each has its own DLQ)."""


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after :data:`WAIT_S` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def client(amqp_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = GatewaySettings(rabbitmq_url=amqp_url)  # type: ignore[arg-type]
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
async def channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        yield await connection.channel()


async def take(queue: aio_pika.abc.AbstractQueue, count: int) -> list[Any]:
    """Consume ``count`` messages (shard queues are single-active-consumer: no basic.get)."""
    taken: list[Any] = []
    async with asyncio.timeout(WAIT_S), queue.iterator() as messages:
        async for message in messages:
            taken.append(message)
            if len(taken) == count:
                break
    return taken


async def depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return queue.declaration_result.message_count or 0


async def dead_letter_by_rejecting(channel: aio_pika.abc.AbstractChannel, count: int) -> list[str]:
    """Publish ``count`` commands and reject each one, as a consumer does with bad input."""
    ids = [str(uuid4()) for _ in range(count)]
    for message_id in ids:
        await channel.default_exchange.publish(
            aio_pika.Message(
                b'{"not": "a command"}',
                message_id=message_id,
                headers={topology.ATTEMPT_HEADER: 2},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=SHARD,
        )
    work = await channel.declare_queue(SHARD, passive=True)
    for message in await take(work, count):
        await message.reject(requeue=False)
    dlq = topology.dlq_name(SHARD)

    async def arrived() -> bool:
        return await depth(channel, dlq) == count

    await wait_until(arrived, f"{count} messages in {dlq}")
    return ids


async def test_list_shows_reasons_and_leaves_messages(
    client: AsyncTestClient[Any], channel: aio_pika.abc.AbstractChannel
):
    ids = await dead_letter_by_rejecting(channel, 2)
    for _ in range(2):  # listing twice: nothing leaves the queue
        response = await client.get("/v1/admin/dead-letters/indexer.commands.0")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["queue"] == "indexer.commands.0.dlq"
        assert body["depth"] == 2
        assert sorted(m["message_id"] for m in body["messages"]) == sorted(ids)
        assert {m["reason"] for m in body["messages"]} == {"rejected"}
        assert all(m["attempts"] >= 2 for m in body["messages"])
        assert all(m["body_preview"] == '{"not": "a command"}' for m in body["messages"])
    limited = await client.get("/v1/admin/dead-letters/indexer.commands.0.dlq?limit=1")
    assert len(limited.json()["messages"]) == 1
    assert await depth(channel, "indexer.commands.0.dlq") == 2


async def test_replay_moves_once_with_attempts_reset(
    client: AsyncTestClient[Any], channel: aio_pika.abc.AbstractChannel
):
    first, second = await dead_letter_by_rejecting(channel, 2)
    url = "/v1/admin/dead-letters/indexer.commands.0/replay"
    replayed = await client.post(url, json={"message_ids": [first]})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {
        "queue": "indexer.commands.0.dlq",
        "target": "indexer.commands.0",
        "replayed": [first],
        "count": 1,
    }
    again = await client.post(url, json={"message_ids": [first]})
    assert again.json()["count"] == 0
    work = await channel.declare_queue(SHARD, passive=True)
    (message,) = await take(work, 1)
    assert message.message_id == first
    headers = message.headers or {}
    assert headers[topology.ATTEMPT_HEADER] == 0
    assert "x-death" not in headers
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    await message.ack()
    rest = await client.post(url, json={"all": True})
    assert rest.json()["replayed"] == [second]
    assert await depth(channel, "indexer.commands.0.dlq") == 0


async def test_consumer_reason_header_is_the_reason(
    client: AsyncTestClient[Any], channel: aio_pika.abc.AbstractChannel
):
    dlx = await channel.get_exchange(topology.DLX_NAME)
    await dlx.publish(
        aio_pika.Message(
            b"{}",
            message_id="e-1",
            headers={topology.DEAD_LETTER_REASON_HEADER: "invalid event: no event_id"},
        ),
        routing_key=topology.SESSION_LOGGER_EVENTS_QUEUE,
    )
    dlq = topology.dlq_name(topology.SESSION_LOGGER_EVENTS_QUEUE)

    async def arrived() -> bool:
        return await depth(channel, dlq) == 1

    await wait_until(arrived, f"the message in {dlq}")
    body = (await client.get(f"/v1/admin/dead-letters/{dlq}")).json()
    assert body["messages"][0]["reason"] == "invalid event: no event_id"


@pytest.mark.parametrize(
    ("method", "path", "payload", "status"),
    [
        ("get", "/v1/admin/dead-letters/no-such-queue", None, 404),
        ("get", "/v1/admin/dead-letters/indexer.rpc", None, 404),
        ("post", "/v1/admin/dead-letters/indexer.commands.0/replay", {}, 400),
        (
            "post",
            "/v1/admin/dead-letters/indexer.commands.0/replay",
            {"all": True, "message_ids": ["x"]},
            400,
        ),
    ],
)
async def test_bad_requests_are_problems(
    client: AsyncTestClient[Any], method: str, path: str, payload: Any, status: int
):
    kwargs = {"json": payload} if method == "post" else {}
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
