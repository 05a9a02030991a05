"""Broker construction and topology declaration shared by the services.

Every publisher uses publisher confirms, persistent messages and mandatory routing: an
unroutable or unconfirmed publish raises (``aio_pika.exceptions.DeliveryError``), never
passes silently.
"""

from __future__ import annotations

from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue

from lectern import topology
from lectern.contracts import Event, EventEnvelope, Message
from lectern.retry import RETRY_DELAYS_MS, retry_queue

FASTSTREAM_LOGGER = "lectern.faststream"
"""Standard-library logger FastStream writes to (formatted by :mod:`lectern.logging`)."""


def create_broker(url: str, *, prefetch_count: int | None = None, **kwargs: Any) -> RabbitBroker:
    """Create a FastStream broker whose default channel confirms and raises on returns.

    Args:
        url: AMQP URL.
        prefetch_count: channel prefetch (unacknowledged messages per consumer).
        **kwargs: passed to :class:`faststream.rabbit.RabbitBroker`.

    Returns:
        The broker, not connected: connect it in the service's lifespan.
    """
    channel = Channel(prefetch_count=prefetch_count, publisher_confirms=True, on_return_raises=True)
    return RabbitBroker(url, default_channel=channel, **kwargs)


async def declare_topology(url: str) -> None:
    """Declare every exchange, work queue, dead-letter queue and binding (idempotent).

    Any service may call it at start-up, so a publish is routable (mandatory routing)
    even before the consuming service first started. Each work queue gets its
    dead-letter queue and its back-off retry tiers (:mod:`lectern.retry`).

    Declares on a short-lived connection of its own: FastStream caches a queue declared
    through a broker together with the channel that declared it, and its subscribers
    would then consume on that channel, without their own prefetch limits.

    Args:
        url: AMQP URL of the broker (and vhost).

    Raises:
        aio_pika.exceptions.AMQPError: the broker refused a declaration (for example a
            queue that exists with other arguments).
    """
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for exchange in (
            topology.commands_exchange,
            topology.events_exchange,
            topology.dead_letter_exchange,
        ):
            await channel.declare_exchange(exchange.name, aio_pika.ExchangeType.TOPIC, durable=True)
        work_queues = (
            (topology.indexer_commands_queue, topology.COMMANDS_EXCHANGE_NAME, "document.*"),
            (topology.session_logger_events_queue, topology.EVENTS_EXCHANGE_NAME, "#"),
        )
        for queue, exchange_name, routing_key in work_queues:
            declared = await _declare(channel, queue)
            await declared.bind(exchange_name, routing_key=routing_key)
            dlq = await _declare(channel, topology.dead_letter_queue(queue.name))
            await dlq.bind(topology.DLX_NAME, routing_key=queue.name)
            for delay_ms in RETRY_DELAYS_MS:
                await _declare(channel, retry_queue(queue.name, delay_ms))
        for rpc_queue in (topology.indexer_rpc_queue, topology.session_logger_rpc_queue):
            await _declare(channel, rpc_queue)


async def _declare(channel: AbstractChannel, queue: RabbitQueue) -> AbstractQueue:
    return await channel.declare_queue(
        queue.name, durable=queue.durable, arguments=dict(queue.arguments or {})
    )


async def publish_event(broker: RabbitBroker, event: Event, *, timeout: float = 10.0) -> None:
    """Publish an event on ``lectern.events`` (confirmed, persistent, mandatory).

    Raises:
        aio_pika.exceptions.DeliveryError: the broker returned or nacked the message.
        TimeoutError: no confirm within ``timeout`` seconds.
    """
    await _publish(broker, event, topology.events_exchange, event.event_type, timeout)


async def publish_command(
    broker: RabbitBroker, command: Message, routing_key: str, *, timeout: float = 10.0
) -> None:
    """Publish a command on ``lectern.commands`` (confirmed, persistent, mandatory).

    Raises:
        aio_pika.exceptions.DeliveryError: the broker returned or nacked the message.
        TimeoutError: no confirm within ``timeout`` seconds.
    """
    await _publish(broker, command, topology.commands_exchange, routing_key, timeout)


async def publish_envelope(
    broker: RabbitBroker, envelope: EventEnvelope, *, timeout: float = 10.0
) -> None:
    """Publish an event in the generic envelope (a producer's own event type).

    Goes to ``lectern.events`` with ``event_type`` as the routing key, confirmed,
    persistent and mandatory, like :func:`publish_event`.

    Raises:
        aio_pika.exceptions.DeliveryError: the broker returned or nacked the message.
        TimeoutError: no confirm within ``timeout`` seconds.
    """
    await _publish(broker, envelope, topology.events_exchange, envelope.event_type, timeout)


async def _publish(
    broker: RabbitBroker,
    message: Message | EventEnvelope,
    exchange: Any,
    routing_key: str,
    timeout: float,
) -> None:
    await broker.publish(
        message.model_dump_json().encode(),
        exchange=exchange,
        routing_key=routing_key,
        persist=True,
        mandatory=True,
        timeout=timeout,
        content_type="application/json",
        message_id=str(message.event_id),
        correlation_id=message.correlation_id,
        message_type=routing_key,
        headers={topology.ATTEMPT_HEADER: 0},
    )
