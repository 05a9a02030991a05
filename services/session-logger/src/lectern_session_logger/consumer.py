"""The event consumer: ``session-logger.events`` → batches → Postgres → acks.

Consumes with aio-pika on its own robust connection and channel (prefetch two batches).
Each delivery is validated and added to the
:class:`~lectern_session_logger.batching.Batcher` without awaiting anything; when a
batch is committed, one done callback for the whole batch settles its delivery tags with the
:class:`~lectern_session_logger.acks.AckCoalescer` (one ``basic.ack(multiple)`` per
batch). A message that can never be stored is dead-lettered alone, with the reason in
a header, and its batch goes on without it. The work per delivery is what the drain
benchmark (``bench/event_log.py``, issue 13 section 5) measures against a bare
consumer: no future or done callback per event, metrics children looked up once.

Why aio-pika and not a FastStream subscriber for this queue: FastStream 0.7 has no
batch consumer for RabbitMQ, its per-message pipeline about doubled the CPU cost per
event here (cProfile), and coalescing acks needs the channel's delivery tags, which a
FastStream subscriber does not expose. FastStream still serves the RPC reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from aio_pika.message import IncomingMessage
from aiormq.abc import DeliveredMessage
from faststream.prometheus.types import ProcessingStatus

from lectern import failpoints, topology
from lectern.logging import bind_correlation_id, get_logger
from lectern.tracing import tracing_active
from lectern_session_logger import tracing
from lectern_session_logger.acks import AckCoalescer
from lectern_session_logger.batching import Batcher, BatcherClosedError
from lectern_session_logger.deliveries import ChannelConsumer
from lectern_session_logger.errors import InvalidEventError
from lectern_session_logger.events import StoredEvent, parse_event
from lectern_session_logger.metrics import DEAD_LETTERED, EVENTS_QUEUE
from lectern_session_logger.writer import Rejection

log = get_logger(__name__)

DEAD_LETTER_TIMEOUT_S = 5.0
"""Seconds to wait for the broker to confirm a dead-letter publish."""


@dataclass(frozen=True, slots=True)
class _Delivery:
    """A delivery waiting for its batch: where its result is, and how to settle it."""

    index: int
    message: DeliveredMessage
    acks: AckCoalescer
    tag: int
    started: float


class EventConsumer:
    """Consumes ``session-logger.events`` into the batcher.

    Args:
        url: AMQP URL.
        batcher: flushes events to Postgres; its result per event is ``None`` (stored)
            or why Postgres rejected it.
        prefetch: unacknowledged deliveries held at once (at least one batch).
    """

    def __init__(
        self, url: str, batcher: Batcher[StoredEvent, Rejection], *, prefetch: int
    ) -> None:
        self._url = url
        self._batcher = batcher
        self._prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._consumer: ChannelConsumer | None = None
        self._acks: dict[int, AckCoalescer] = {}
        self._pending: set[asyncio.Future[Sequence[Rejection]]] = set()
        self._open_batch: asyncio.Future[Sequence[Rejection]] | None = None
        self._open_deliveries: list[_Delivery] = []
        self._dead_letters: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect and start consuming (the queue must exist: ``declare_topology``)."""
        self._connection = await aio_pika.connect_robust(
            self._url, client_properties={"connection_name": "session-logger.events"}
        )
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        self._publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await channel.get_queue(topology.SESSION_LOGGER_EVENTS_QUEUE)  # it must exist
        assert isinstance(channel, AbstractRobustChannel)
        self._consumer = ChannelConsumer(
            channel, topology.SESSION_LOGGER_EVENTS_QUEUE, self._on_delivery
        )
        await self._consumer.start()

    async def stop(self, grace_s: float) -> None:
        """Stop consuming, let held messages commit and ack (up to ``grace_s``), close.

        Messages still unsettled when the connection closes are redelivered by RabbitMQ.
        """
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        waiting = self._pending | self._dead_letters
        if waiting:
            await asyncio.wait(waiting, timeout=grace_s)
        for coalescer in self._acks.values():
            await coalescer.drain()
        if self._connection is not None:
            await self._connection.close()

    async def dead_letter_depth(self) -> int | None:
        """Events waiting in ``session-logger.events.dlq`` (passive declare), ``None`` if unknown.

        Counts every dead-letter of the queue: those this service made (invalid events,
        rows Postgres rejected) and those RabbitMQ made (delivery limit), until an
        operator drains or replays them.
        """
        if self._connection is None or self._connection.is_closed:
            return None
        try:
            async with self._connection.channel() as channel:
                queue = await channel.declare_queue(
                    topology.dlq_name(topology.SESSION_LOGGER_EVENTS_QUEUE), passive=True
                )
                return int(queue.declaration_result.message_count or 0)
        except Exception as exc:
            log.warning("dead_letters.depth_unknown", error=repr(exc))
            return None

    def _coalescer(self, message: DeliveredMessage) -> AckCoalescer:
        channel: Any = message.channel
        coalescer = self._acks.get(id(channel))
        if coalescer is None or coalescer.channel is not channel:
            self._acks = {k: c for k, c in self._acks.items() if not c.channel.is_closed}
            coalescer = self._acks[id(channel)] = AckCoalescer(channel)
        return coalescer

    async def _on_delivery(self, message: DeliveredMessage) -> None:
        """Handle one delivery; nothing in it awaits (dead-letters run as tasks).

        Inside its span when tracing is on (see :mod:`lectern_session_logger.tracing`).
        """
        if not tracing_active():
            self._on_message(message)
            return
        with tracing.persisting(IncomingMessage(message)):
            self._on_message(message)

    def _on_message(self, message: DeliveredMessage) -> None:
        acks = self._coalescer(message)
        tag = message.delivery_tag
        assert tag is not None  # consumed (not basic.get) messages always carry one
        started = EVENTS_QUEUE.received(len(message.body))
        try:
            self._accept(message, acks, tag, started)
        except Exception:  # a bug: never leave a tag unsettled, it would block the acks
            log.exception("event.handler_failed", message_id=message.header.properties.message_id)
            self._spawn(self._nack(IncomingMessage(message)), lambda: acks.settle(tag))
            EVENTS_QUEUE.settled(started, ProcessingStatus.nacked)

    @staticmethod
    async def _nack(message: AbstractIncomingMessage) -> None:
        with contextlib.suppress(Exception):
            await message.nack(requeue=True)  # counts towards the delivery limit

    def _accept(
        self, message: DeliveredMessage, acks: AckCoalescer, tag: int, started: float
    ) -> None:
        try:
            event = parse_event(message.body)
        except InvalidEventError as exc:
            DEAD_LETTERED.labels("invalid").inc()
            self._spawn(
                self._dead_letter(IncomingMessage(message), str(exc)), lambda: acks.settle(tag)
            )
            EVENTS_QUEUE.settled(started, ProcessingStatus.rejected)
            return
        failpoints.raise_if("session-logger.poison", str(event.event_id))
        tracing.set_event_type(event.event_type)
        try:
            future, index = self._batcher.add(event)
        except BatcherClosedError:
            return  # shutting down: RabbitMQ redelivers it
        tracing.hand_over_span(future, index)  # the span ends when the batch commits
        if future is not self._open_batch:
            self._open_batch = future
            self._open_deliveries = []
            self._pending.add(future)
            future.add_done_callback(functools.partial(self._on_stored, self._open_deliveries))
        self._open_deliveries.append(_Delivery(index, message, acks, tag, started))

    def _on_stored(
        self, deliveries: list[_Delivery], future: asyncio.Future[Sequence[Rejection]]
    ) -> None:
        """Settle a batch's deliveries once it is committed (dead-letter the rejected ones)."""
        self._pending.discard(future)
        if future.cancelled() or future.exception() is not None:
            return  # not stored (shutting down): left unacknowledged for redelivery
        results = future.result()
        stored: list[float] = []
        for delivery in deliveries:
            rejection = results[delivery.index]
            if rejection is None:
                delivery.acks.settle(delivery.tag)
                stored.append(delivery.started)
                continue
            DEAD_LETTERED.labels("rejected_by_store").inc()
            EVENTS_QUEUE.settled(delivery.started, ProcessingStatus.rejected)
            self._spawn(
                self._dead_letter(IncomingMessage(delivery.message), rejection),
                functools.partial(delivery.acks.settle, delivery.tag),
            )
        EVENTS_QUEUE.settled_many(stored, ProcessingStatus.acked)

    def _spawn(self, work: Coroutine[Any, Any, None], then: Callable[[], None]) -> None:
        """Run ``work`` as a task (kept until done for :meth:`stop`), then call ``then``."""
        task = asyncio.create_task(work)
        task.add_done_callback(lambda _: then())
        self._dead_letters.add(task)
        task.add_done_callback(self._dead_letters.discard)

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        """Copy ``message`` to ``lectern.dlx`` with ``reason`` in a header (confirmed).

        The caller then settles (acks) the original. If the publish fails, the original
        is rejected without requeue instead, which dead-letters it through the queue's
        own dead-letter exchange, without the reason header.
        """
        with bind_correlation_id(message.correlation_id, message_id=message.message_id):
            log.warning("event.dead_lettered", reason=reason[:500])
            try:
                assert self._publish_channel is not None
                exchange = await self._publish_channel.get_exchange(topology.DLX_NAME, ensure=False)
                copy = aio_pika.Message(
                    message.body,
                    headers={
                        **(message.headers or {}),
                        topology.DEAD_LETTER_REASON_HEADER: reason[:1000],
                    },
                    content_type=message.content_type,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                await exchange.publish(
                    copy,
                    routing_key=topology.SESSION_LOGGER_EVENTS_QUEUE,
                    mandatory=True,
                    timeout=DEAD_LETTER_TIMEOUT_S,
                )
            except Exception:
                log.exception("event.dead_letter_publish_failed")
                await message.reject(requeue=False)
