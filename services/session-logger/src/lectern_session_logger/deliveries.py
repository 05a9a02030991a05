"""Consuming a queue below aio-pika's per-message layer, on an aio-pika robust channel.

``Queue.consume`` wraps every delivery in an ``aio_pika.IncomingMessage`` (its
``Message.__init__`` validates and copies each property: about as much CPU as the
session-logger's whole parse of the event) and runs the callback in a second task
(``aio_pika.queue.consumer``). :class:`ChannelConsumer` issues ``basic.consume`` on the
aiormq channel under the robust channel instead, so the callback gets aiormq's
:class:`~aiormq.abc.DeliveredMessage` (body, delivery tag, properties as parsed) in
aiormq's own task. Callers wrap a delivery in an ``IncomingMessage`` only where they
need its methods (dead-lettering, tracing).

Recovery stays aio-pika's: after a reconnection the robust channel reopens (QoS
restored) and calls its ``reopen_callbacks``, where this consumer consumes again on the
new aiormq channel; a consumer the broker cancels (queue deleted, then re-declared)
consumes again too, or logs why it cannot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from aio_pika.abc import AbstractRobustChannel
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp.commands import Basic

from lectern.logging import get_logger

log = get_logger(__name__)

OnDelivery = Callable[[DeliveredMessage], Coroutine[Any, Any, None]]


class ChannelConsumer:
    """``basic.consume`` of one queue on the aiormq channel under a robust channel.

    Args:
        channel: the aio-pika robust channel (its QoS applies).
        queue: the queue's name.
        on_delivery: called with each delivery (manual acknowledgement).
    """

    def __init__(self, channel: AbstractRobustChannel, queue: str, on_delivery: OnDelivery) -> None:
        self._channel = channel
        self._queue = queue
        self._on_delivery = on_delivery
        self._underlay: AbstractChannel | None = None
        self._tag: str | None = None
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Consume now and again after every reopen of the robust channel.

        Raises:
            aiormq.exceptions.AMQPError: the broker refused the consume (no such queue).
        """
        self._channel.reopen_callbacks.add(self._on_reopen)
        await self._consume()

    async def stop(self) -> None:
        """Cancel the consumer (deliveries already received are still handled)."""
        self._stopped = True
        self._channel.reopen_callbacks.discard(self._on_reopen)
        underlay, tag = self._underlay, self._tag
        if underlay is not None and tag is not None and not underlay.is_closed:
            await underlay.basic_cancel(tag)

    async def _consume(self) -> None:
        underlay = await self._channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._on_cancelled)
        ok = await underlay.basic_consume(self._queue, self._on_delivery, no_ack=False)
        self._underlay, self._tag = underlay, ok.consumer_tag

    async def _on_reopen(self, *_: Any) -> None:
        if not self._stopped:
            await self._consume()
            log.info("consumer.restored", queue=self._queue)

    def _on_cancelled(self, frame: Basic.Cancel) -> None:
        if self._stopped or frame.consumer_tag != self._tag:
            return
        log.warning("consumer.cancelled_by_broker", queue=self._queue)
        task = asyncio.create_task(self._consume_again())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume_again(self) -> None:
        try:
            await self._consume()
        except Exception:
            log.exception("consumer.restore_failed", queue=self._queue)
