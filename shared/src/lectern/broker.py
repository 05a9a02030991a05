"""Broker construction and topology declaration shared by the services.

Every publisher uses publisher confirms, persistent messages and mandatory routing: an
unroutable or unconfirmed publish raises (``aio_pika.exceptions.DeliveryError``), never
passes silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aio_pika
import aio_pika.connection
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractQueue
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue

from lectern import topology
from lectern.broker_start import RetryingRabbitBroker
from lectern.contracts import Event, EventEnvelope, Message, OrderedCommand
from lectern.event_bounds import MAX_EVENT_BYTES, bound_event
from lectern.retry import RETRY_DELAYS_MS, retry_queue

FASTSTREAM_LOGGER = "lectern.faststream"
"""Standard-library logger FastStream writes to (formatted by :mod:`lectern.logging`)."""


def create_broker(url: str, *, prefetch_count: int | None = None, **kwargs: Any) -> RabbitBroker:
    """Create a FastStream broker whose default channel confirms and raises on returns.

    The broker logs through :data:`FASTSTREAM_LOGGER`, a standard-library logger under
    the root logger that :func:`lectern.logging.configure_logging` sets up, so its
    per-message lines ("Received", "Processed", at INFO) honour ``LOG_LEVEL`` and come
    out as the service's structlog lines. Without a logger FastStream makes its own
    (``faststream.access.rabbit``: level INFO, its own stdout handler, not propagated),
    which writes two lines per message whatever ``LOG_LEVEL`` says.

    Args:
        url: AMQP URL.
        prefetch_count: channel prefetch (unacknowledged messages per consumer).
        **kwargs: passed to :class:`faststream.rabbit.RabbitBroker` (``logger``
            overrides the default one).

    Its ``start`` repeats a start that a broker still starting a queue, or restarting,
    broke off (:mod:`lectern.broker_start`), so replicas can start together.

    Returns:
        The broker, not connected: connect it in the service's lifespan.
    """
    channel = Channel(prefetch_count=prefetch_count, publisher_confirms=True, on_return_raises=True)
    kwargs.setdefault("logger", logging.getLogger(FASTSTREAM_LOGGER))
    return RetryingRabbitBroker(url, default_channel=channel, **kwargs)


async def connect(url: str, timeout: float | None = None) -> AbstractConnection:
    """Open a plain (not robust) aio-pika connection; closed again if it fails.

    ``aio_pika.connect`` leaves a failed connection to its ``__del__``, which schedules
    ``close()`` on whatever loop is current when the garbage collector runs (or on none:
    "coroutine 'Connection.close' was never awaited"). This closes it here instead.

    Args:
        url: AMQP URL of the broker (and vhost).
        timeout: seconds for the TCP connect and the AMQP handshake (``None``: aio-pika's).

    Raises:
        aio_pika.exceptions.AMQPConnectionError, OSError, TimeoutError: as ``connect``.
    """
    connection = aio_pika.Connection(aio_pika.connection.make_url(url))
    try:
        await connection.connect(timeout=timeout)
    except BaseException:
        await connection.close()
        raise
    return connection


async def declare_topology(
    url: str, *, indexer_shards: int = topology.DEFAULT_INDEXER_SHARDS
) -> None:
    """Declare every exchange, work queue, dead-letter queue and binding (idempotent).

    Any service may call it at start-up, so a publish is routable (mandatory routing)
    even before the consuming service first started. Each work queue gets its
    dead-letter queue and its back-off retry tiers (:mod:`lectern.retry`); the indexer's
    work queues are its shard queues behind the consistent-hash exchange
    (:mod:`lectern.topology`), which needs the ``rabbitmq_consistent_hash_exchange``
    plugin. A queue ``indexer.commands`` left by a version before sharding is unbound
    from ``lectern.commands`` (drain it into the shards with a shovel).

    Declares on a short-lived connection of its own: FastStream caches a queue declared
    through a broker together with the channel that declared it, and its subscribers
    would then consume on that channel, without their own prefetch limits.

    Args:
        url: AMQP URL of the broker (and vhost).
        indexer_shards: number of indexer shard queues (``INDEXER_SHARDS``); every
            service must declare the same number.

    Raises:
        aio_pika.exceptions.AMQPError: the broker refused a declaration (for example a
            queue that exists with other arguments, or the consistent-hash plugin is
            not enabled: "invalid exchange type").
    """
    connection = await connect(url)
    async with connection:
        channel = await connection.channel()
        for exchange in (
            topology.commands_exchange,
            topology.events_exchange,
            topology.dead_letter_exchange,
        ):
            await channel.declare_exchange(exchange.name, aio_pika.ExchangeType.TOPIC, durable=True)
        shards = await channel.declare_exchange(
            topology.INDEXER_SHARDS_EXCHANGE_NAME,
            topology.indexer_shards_exchange.type.value,
            durable=True,
            arguments=dict(topology.indexer_shards_exchange.arguments or {}),
        )
        await shards.bind(topology.COMMANDS_EXCHANGE_NAME, routing_key="document.*")
        work_queues = [
            (queue, topology.INDEXER_SHARDS_EXCHANGE_NAME, "1")
            for queue in topology.indexer_shard_queues(indexer_shards)
        ]
        work_queues.append(
            (topology.session_logger_events_queue, topology.EVENTS_EXCHANGE_NAME, "#")
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
        await _unbind_unsharded_queue(connection)


async def _unbind_unsharded_queue(connection: aio_pika.abc.AbstractConnection) -> None:
    """Stop routing commands to the pre-sharding ``indexer.commands`` queue, if it exists."""
    channel = await connection.channel()
    try:
        legacy = await channel.declare_queue(topology.INDEXER_COMMANDS_QUEUE, passive=True)
    except aio_pika.exceptions.ChannelClosed:
        return  # no such queue: the channel closed, nothing to do
    await legacy.unbind(topology.COMMANDS_EXCHANGE_NAME, routing_key="document.*")
    await channel.close()


async def _declare(channel: AbstractChannel, queue: RabbitQueue) -> AbstractQueue:
    return await channel.declare_queue(
        queue.name, durable=queue.durable, arguments=dict(queue.arguments or {})
    )


async def publish_event(broker: RabbitBroker, event: Event, *, timeout: float = 10.0) -> None:
    """Publish an event on ``lectern.events`` (confirmed, persistent, mandatory).

    An event whose body exceeds :data:`lectern.event_bounds.MAX_EVENT_BYTES` is published
    bounded (:func:`lectern.event_bounds.bound_event`, in a worker thread): excerpts of
    its largest fields, ``truncated: true`` and the original sizes, so neither the
    broker nor the event log refuses it.

    Raises:
        aio_pika.exceptions.DeliveryError: the broker returned or nacked the message.
        TimeoutError: no confirm within ``timeout`` seconds.
        lectern.event_bounds.EventTooLargeError: the event cannot be bounded.
    """
    body = event.model_dump_json().encode()
    if len(body) > MAX_EVENT_BYTES:
        body = await asyncio.to_thread(bounded_body, event)
    await _publish(broker, event, topology.events_exchange, event.event_type, timeout, body=body)


def bounded_body(event: Event) -> bytes:
    """The JSON body of ``event`` within :data:`~lectern.event_bounds.MAX_EVENT_BYTES`.

    Raises:
        lectern.event_bounds.EventTooLargeError: the event cannot be bounded.
    """
    bounded = bound_event(event.model_dump(mode="json"))
    return json.dumps(bounded, ensure_ascii=False, separators=(",", ":")).encode()


async def publish_command(
    broker: RabbitBroker, command: Message, routing_key: str, *, timeout: float = 10.0
) -> None:
    """Publish a command on ``lectern.commands`` (confirmed, persistent, mandatory).

    A command on a document carries its document key in
    :data:`lectern.topology.DOCUMENT_KEY_HEADER`, the key of the indexer's shards: the
    bare ``document_id`` in ``default``, ``<collection>|<document_id>`` elsewhere
    (:func:`lectern.contracts.document_key`), so one id in two collections may be
    worked on by two replicas at once while one document never is.

    Raises:
        aio_pika.exceptions.DeliveryError: the broker returned or nacked the message.
        TimeoutError: no confirm within ``timeout`` seconds.
    """
    key = command.document_key if isinstance(command, OrderedCommand) else None
    headers = {topology.DOCUMENT_KEY_HEADER: key} if key else {}
    await _publish(broker, command, topology.commands_exchange, routing_key, timeout, headers)


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
    headers: dict[str, Any] | None = None,
    *,
    body: bytes | None = None,
) -> None:
    await broker.publish(
        body if body is not None else message.model_dump_json().encode(),
        exchange=exchange,
        routing_key=routing_key,
        persist=True,
        mandatory=True,
        timeout=timeout,
        content_type="application/json",
        message_id=str(message.event_id),
        correlation_id=message.correlation_id,
        message_type=routing_key,
        headers={topology.ATTEMPT_HEADER: 0, **(headers or {})},
    )
