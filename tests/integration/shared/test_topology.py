"""Topology declaration, retry tiers and dead-lettering on a real RabbitMQ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker

from lectern import topology
from lectern.broker import create_broker, declare_topology, publish_command, publish_event
from lectern.contracts import DeleteDocument, DocumentIndexed
from lectern.retry import RETRY_DELAYS_MS, attempt_of, schedule_retry

pytestmark = pytest.mark.integration

SHARD_0 = topology.indexer_shard_queue_name(0)


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[RabbitBroker]:
    rabbit = create_broker(amqp_url)
    await rabbit.connect()
    await declare_topology(amqp_url)
    yield rabbit
    await rabbit.stop()


async def _take(
    amqp_url: str, queue_name: str, count: int, wait_s: float
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Consume ``count`` messages (shard queues refuse ``basic.get``: single active consumer)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        taken: list[aio_pika.abc.AbstractIncomingMessage] = []
        async with queue.iterator() as messages:
            try:
                async with asyncio.timeout(wait_s):
                    async for message in messages:
                        await message.ack()
                        taken.append(message)
                        if len(taken) >= count:
                            break
            except TimeoutError:
                pass
    return taken


async def _get(
    amqp_url: str, queue_name: str, wait_s: float
) -> aio_pika.abc.AbstractIncomingMessage:
    taken = await _take(amqp_url, queue_name, 1, wait_s)
    if not taken:
        raise AssertionError(f"nothing arrived in {queue_name} within {wait_s} s")
    return taken[0]


async def test_declaring_twice_is_harmless(broker: RabbitBroker, amqp_url: str):
    await declare_topology(amqp_url)


async def test_events_are_persistent_and_routed(broker: RabbitBroker, amqp_url: str):
    event = DocumentIndexed(document_id="d", version="v", chunk_count=1, correlation_id="r")
    await publish_event(broker, event)
    message = await _get(amqp_url, topology.SESSION_LOGGER_EVENTS_QUEUE, wait_s=5)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == str(event.event_id)
    assert DocumentIndexed.model_validate_json(message.body) == event


async def test_unroutable_publish_raises(broker: RabbitBroker):
    with pytest.raises(DeliveryError):
        await broker.publish(b"{}", exchange=topology.commands_exchange, routing_key="nothing.here")


async def test_retry_returns_to_the_work_queue_with_its_attempt(
    broker: RabbitBroker, amqp_url: str
):
    shard = topology.indexer_shard_queue_name(2)
    scheduled = await schedule_retry(broker, work_queue=shard, body=b'{"x": 1}', headers={})
    assert scheduled
    message = await _get(amqp_url, shard, wait_s=RETRY_DELAYS_MS[0] / 1000 + 5)
    assert message.body == b'{"x": 1}'
    assert attempt_of(message.headers) == 1


async def test_retries_end_after_the_last_tier(broker: RabbitBroker):
    headers = {topology.ATTEMPT_HEADER: len(RETRY_DELAYS_MS)}
    scheduled = await schedule_retry(broker, work_queue=SHARD_0, body=b"{}", headers=headers)
    assert not scheduled


async def test_rejected_message_is_dead_lettered(broker: RabbitBroker, amqp_url: str):
    await broker.publish(
        b"poison", exchange=topology.commands_exchange, routing_key="document.ingest", persist=True
    )
    depths = await _shard_depths(amqp_url, topology.DEFAULT_INDEXER_SHARDS)
    (shard,) = [name for name, depth in depths.items() if depth]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(shard, ensure=True)
        async with queue.iterator() as messages:
            async for message in messages:
                await message.reject(requeue=False)
                break
    dead = await _get(amqp_url, topology.dlq_name(shard), wait_s=5)
    assert dead.body == b"poison"
    assert dead.headers["x-death"]


async def _shard_depths(amqp_url: str, shards: int) -> dict[str, int]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        depths = {}
        for n in range(shards):
            queue = await channel.declare_queue(topology.indexer_shard_queue_name(n), passive=True)
            depths[queue.name] = int(queue.declaration_result.message_count or 0)
        return depths


async def _drain_document_ids(amqp_url: str, queue_name: str, count: int) -> list[str]:
    taken = await _take(amqp_url, queue_name, count, wait_s=5)
    return [DeleteDocument.model_validate_json(m.body).document_id for m in taken]


async def test_commands_of_one_document_always_reach_one_shard(broker: RabbitBroker, amqp_url: str):
    documents = [f"doc-{n}" for n in range(40)]
    for _ in range(3):
        for document_id in documents:
            await publish_command(
                broker, DeleteDocument(document_id=document_id), "document.delete"
            )
    depths = await _shard_depths(amqp_url, topology.DEFAULT_INDEXER_SHARDS)
    assert sum(depths.values()) == 120  # each publish was confirmed after routing
    shard_of: dict[str, set[str]] = {}
    for name, depth in depths.items():
        for document_id in await _drain_document_ids(amqp_url, name, depth):
            shard_of.setdefault(document_id, set()).add(name)
    assert set(shard_of) == set(documents)
    assert all(len(shards) == 1 for shards in shard_of.values())
    used = set().union(*shard_of.values())
    assert len(used) > 1  # 40 documents spread over more than one shard


async def test_shard_queues_have_a_single_active_consumer(broker: RabbitBroker):
    for queue in topology.indexer_shard_queues(topology.DEFAULT_INDEXER_SHARDS):
        assert (queue.arguments or {})["x-single-active-consumer"] is True


async def test_a_pre_sharding_queue_is_unbound(amqp_url: str):
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            topology.COMMANDS_EXCHANGE_NAME, aio_pika.ExchangeType.TOPIC, durable=True
        )
        legacy = await channel.declare_queue(
            topology.INDEXER_COMMANDS_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await legacy.bind(exchange, routing_key="document.*")
        await declare_topology(amqp_url)
    broker = create_broker(amqp_url)
    await broker.connect()
    try:
        await publish_command(broker, DeleteDocument(document_id="d"), "document.delete")
    finally:
        await broker.stop()
    depths = await _shard_depths(amqp_url, topology.DEFAULT_INDEXER_SHARDS)
    assert sum(depths.values()) == 1
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(topology.INDEXER_COMMANDS_QUEUE, passive=True)
        assert declared.declaration_result.message_count == 0
