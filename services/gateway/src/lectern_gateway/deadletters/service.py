"""Dead-letter queues for operators: list what failed for good, and replay it.

A ``*.dlq`` queue holds messages a consumer gave up on (invalid input, delivery limit,
retries used up), each with the reason in its headers. Listing takes up to ``limit``
messages with ``basic.get`` and returns every one of them to the queue (``nack`` with
requeue), so a listing changes nothing but the broker's delivery counters. Replaying
republishes a message, confirmed and persistent, to the work queue it came from (the
DLQ's name without ``.dlq``) with its attempt count reset to 0, and only then
acknowledges it in the DLQ: a crash in between replays it twice, which the consumers'
idempotency absorbs. A message replayed once is gone from the DLQ, so the same replay
twice changes nothing.

Source of the header names: RabbitMQ docs "Dead Letter Exchanges" (``x-death``,
``x-first-death-reason``) and "Quorum Queues" (``x-delivery-count``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from lectern import topology
from lectern.broker import connect

DLQ_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}\.dlq$")
"""Queues this module touches: dead-letter queues only (``<work queue>.dlq``)."""

BODY_PREVIEW_CHARS = 500
"""Characters of each message body shown in a listing."""

RESET_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason")
"""Broker-set headers dropped on replay (a replayed message starts a fresh life)."""


class UnknownQueueError(LookupError):
    """The named queue is not a dead-letter queue or does not exist."""


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message as listed.

    Attributes:
        message_id: the message's id (the ``event_id`` of Lectern's messages).
        correlation_id: the originating request id, when set.
        routing_key: the routing key it was dead-lettered with.
        reason: why it was dead-lettered: the consumer's reason header, else the
            broker's (``rejected``, ``delivery_limit``, ``expired``, ``maxlen``).
        attempts: how many times it was tried (retry tiers plus redeliveries).
        dead_lettered_at: when the broker dead-lettered it (UTC), when known.
        body_preview: the first :data:`BODY_PREVIEW_CHARS` characters of the body.
        body_bytes: the body's size in bytes.
    """

    message_id: str | None
    correlation_id: str | None
    routing_key: str | None
    reason: str
    attempts: int
    dead_lettered_at: datetime | None
    body_preview: str
    body_bytes: int


def work_queue_of(dlq: str) -> str:
    """Return the work queue a dead-letter queue belongs to (``x.dlq`` -> ``x``)."""
    return dlq.removesuffix(".dlq")


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    """Summarise a dead-lettered message for operators."""
    headers: Mapping[str, Any] = message.headers or {}
    deaths = headers.get("x-death") or []
    first = deaths[0] if deaths and isinstance(deaths[0], Mapping) else {}
    reason = _text(headers.get(topology.DEAD_LETTER_REASON_HEADER)) or _text(
        headers.get("x-first-death-reason") or first.get("reason") or "unknown"
    )
    attempts = _int(headers.get(topology.ATTEMPT_HEADER)) + _int(headers.get("x-delivery-count"))
    when = first.get("time")
    return DeadLetter(
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        routing_key=_text(first.get("routing-keys", [None])[0]) or message.routing_key,
        reason=reason,
        attempts=attempts,
        dead_lettered_at=when if isinstance(when, datetime) else None,
        body_preview=message.body[: BODY_PREVIEW_CHARS * 4].decode("utf-8", "replace")[
            :BODY_PREVIEW_CHARS
        ],
        body_bytes=len(message.body),
    )


class DeadLetterAdmin:
    """List and replay dead-lettered messages over a short-lived AMQP connection.

    Args:
        url: AMQP URL of the broker (and vhost).
        timeout: seconds for each broker operation (connect, get, confirm).
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    async def peek(self, dlq: str, *, limit: int) -> tuple[int, list[DeadLetter]]:
        """Return the DLQ's depth and up to ``limit`` of its messages, oldest first.

        Raises:
            UnknownQueueError: ``dlq`` is not an existing dead-letter queue.
            aio_pika.exceptions.AMQPError: the broker failed.
        """
        async with self._queue(dlq) as (_, queue):
            depth = queue.declaration_result.message_count or 0
            held = await _take(queue, limit)
            try:
                return depth, [describe(m) for m in held]
            finally:
                for message in held:
                    await message.nack(requeue=True)

    async def replay(self, dlq: str, *, message_ids: Sequence[str] | None) -> list[str]:
        """Republish messages to their work queue, then remove them from the DLQ.

        Args:
            dlq: the dead-letter queue.
            message_ids: replay only these; ``None`` replays every message present now.

        Returns:
            The ids of the replayed messages (empty when none matched).

        Raises:
            UnknownQueueError: ``dlq`` is not an existing dead-letter queue.
            aio_pika.exceptions.AMQPError: the broker failed or refused a publish.
        """
        wanted = set(message_ids) if message_ids is not None else None
        target = work_queue_of(dlq)
        replayed: list[str] = []
        async with self._queue(dlq, also=target) as (channel, queue):
            depth = queue.declaration_result.message_count or 0
            held = await _take(queue, depth)
            for message in held:
                if wanted is not None and message.message_id not in wanted:
                    await message.nack(requeue=True)
                    continue
                await channel.default_exchange.publish(
                    _fresh_copy(message), routing_key=target, timeout=self.timeout
                )
                await message.ack()
                replayed.append(message.message_id or "")
        return replayed

    @asynccontextmanager
    async def _queue(
        self, dlq: str, *, also: str | None = None
    ) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue]]:
        """Open a confirming channel and the DLQ; ``also`` must exist too."""
        if not DLQ_NAME.match(dlq):
            raise UnknownQueueError(f"{dlq!r} is not a dead-letter queue name (<queue>.dlq)")
        connection = await connect(self.url, timeout=self.timeout)
        async with connection:
            for name in (dlq, also):
                if name is not None:
                    await _require_queue(connection, name)
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            yield channel, await channel.declare_queue(dlq, passive=True)


async def _require_queue(connection: aio_pika.abc.AbstractConnection, name: str) -> None:
    """Raise :class:`UnknownQueueError` unless ``name`` exists (passive declare)."""
    probe = await connection.channel()
    try:
        await probe.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelClosed as exc:  # the broker closes it with 404
        raise UnknownQueueError(f"queue {name!r} does not exist") from exc
    finally:
        if not probe.is_closed:
            await probe.close()


async def _take(queue: AbstractQueue, limit: int) -> list[AbstractIncomingMessage]:
    held: list[AbstractIncomingMessage] = []
    while len(held) < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        held.append(message)
    return held


def _fresh_copy(message: AbstractIncomingMessage) -> aio_pika.Message:
    headers = {
        k: v
        for k, v in (message.headers or {}).items()
        if k not in RESET_HEADERS and k != topology.DEAD_LETTER_REASON_HEADER
    }
    headers[topology.ATTEMPT_HEADER] = 0
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
