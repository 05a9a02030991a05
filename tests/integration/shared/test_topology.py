"""Topology declaration, retry tiers and dead-lettering on a real RabbitMQ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitBroker

from lectern import topology
from lectern.broker import create_broker, declare_topology, publish_event
from lectern.contracts import DocumentIndexed
from lectern.retry import RETRY_DELAYS_MS, attempt_of, schedule_retry

pytestmark = pytest.mark.integration


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[RabbitBroker]:
    rabbit = create_broker(amqp_url)
    await rabbit.connect()
    await declare_topology(amqp_url)
    yield rabbit
    await rabbit.stop()


async def _get(
    amqp_url: str, queue_name: str, wait_s: float
) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        for _ in range(int(wait_s * 10)):
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                return message
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing arrived in {queue_name} within {wait_s} s")


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
    scheduled = await schedule_retry(
        broker, work_queue=topology.INDEXER_COMMANDS_QUEUE, body=b'{"x": 1}', headers={}
    )
    assert scheduled
    message = await _get(
        amqp_url, topology.INDEXER_COMMANDS_QUEUE, wait_s=RETRY_DELAYS_MS[0] / 1000 + 5
    )
    assert message.body == b'{"x": 1}'
    assert attempt_of(message.headers) == 1


async def test_retries_end_after_the_last_tier(broker: RabbitBroker):
    headers = {topology.ATTEMPT_HEADER: len(RETRY_DELAYS_MS)}
    scheduled = await schedule_retry(
        broker, work_queue=topology.INDEXER_COMMANDS_QUEUE, body=b"{}", headers=headers
    )
    assert not scheduled


async def test_rejected_message_is_dead_lettered(broker: RabbitBroker, amqp_url: str):
    await broker.publish(
        b"poison", exchange=topology.commands_exchange, routing_key="document.ingest", persist=True
    )
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.INDEXER_COMMANDS_QUEUE, ensure=True)
        message = await queue.get(timeout=5)
        assert message is not None
        await message.reject(requeue=False)
    dead = await _get(amqp_url, topology.dlq_name(topology.INDEXER_COMMANDS_QUEUE), wait_s=5)
    assert dead.body == b"poison"
    assert dead.headers["x-death"]
