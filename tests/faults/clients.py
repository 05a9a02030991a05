"""Clients the fault scenarios drive: confirmed publishers and an event recorder.

Publishers record what they sent and what the broker confirmed, retrying unconfirmed
messages with the same id (at-least-once publishing), so a scenario can count lost,
duplicated and unexpected messages as RabbitMQ's Jepsen checker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitBroker

from lectern import topology
from lectern.broker import create_broker, declare_topology, publish_command, publish_event
from lectern.contracts import Event, IngestDocument, Message

RETRY_PAUSE_S = 0.5


@dataclass
class Ledger:
    """What a publisher sent and what the broker confirmed (ids as strings)."""

    sent: list[str] = field(default_factory=list)
    confirmed: list[str] = field(default_factory=list)


async def publish_all(
    amqp_url: str,
    messages: Sequence[Message],
    ledger: Ledger,
    *,
    window: int = 20,
    give_up_s: float = 180,
    pause_s: float = 0.0,
) -> None:
    """Publish ``messages`` with confirms, ``window`` at a time, until each is confirmed.

    A failed or unconfirmed publish (broker restarting, connection lost) is retried with
    the same ``event_id`` after :data:`RETRY_PAUSE_S`; the broker connection is robust
    and reconnects by itself.

    Raises:
        TimeoutError: some message is still unconfirmed after ``give_up_s`` seconds.
    """
    broker = create_broker(amqp_url, fail_fast=True, reconnect_interval=0.5)
    await broker.connect()
    await declare_topology(amqp_url)
    try:
        async with asyncio.timeout(give_up_s):
            for start in range(0, len(messages), window):
                await asyncio.gather(
                    *(_until_confirmed(broker, m, ledger) for m in messages[start : start + window])
                )
                if pause_s:
                    await asyncio.sleep(pause_s)
    finally:
        await broker.stop()


async def _until_confirmed(broker: RabbitBroker, message: Message, ledger: Ledger) -> None:
    ledger.sent.append(str(message.event_id))
    while True:
        try:
            if isinstance(message, Event):
                await publish_event(broker, message, timeout=5)
            else:
                routing_key = getattr(message, "ROUTING_KEY", IngestDocument.ROUTING_KEY)
                await publish_command(broker, message, routing_key, timeout=5)
        except Exception:  # any broker failure: retry the same message
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        ledger.confirmed.append(str(message.event_id))
        return


class EventRecorder:
    """Collects the events published on ``lectern.events`` into a queue of the test's own."""

    def __init__(self, amqp_url: str, binding: str = "#") -> None:
        self.amqp_url = amqp_url
        self.binding = binding
        self.events: list[dict[str, object]] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self) -> None:
        """Declare a durable queue bound to ``lectern.events`` and start consuming."""
        self._connection = await aio_pika.connect_robust(self.amqp_url, reconnect_interval=0.5)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            topology.EVENTS_EXCHANGE_NAME, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            "faults.recorder", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key=self.binding)

        async def on_message(message: AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append(json.loads(message.body))

        await queue.consume(on_message)

    async def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            await self._connection.close()

    def of_type(self, event_type: str) -> list[dict[str, object]]:
        """Recorded events of one type."""
        return [e for e in self.events if e.get("event_type") == event_type]

    async def wait_for(
        self, predicate: Callable[[EventRecorder], bool], timeout: float, what: str
    ) -> None:
        """Wait until ``predicate(self)`` holds.

        Raises:
            AssertionError: not within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if predicate(self):
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def recording(amqp_url: str, binding: str = "#") -> AsyncIterator[EventRecorder]:
    """An :class:`EventRecorder` started for the block and closed after."""
    recorder = EventRecorder(amqp_url, binding)
    await recorder.start()
    try:
        yield recorder
    finally:
        await recorder.close()


async def stored_event_ids(database_url: str) -> list[str]:
    """Every ``event_id`` row of the ``events`` table, one per row (duplicates repeat)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT event_id::text AS id FROM events")
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def wait_stored(database_url: str, expected: int, timeout: float) -> list[str]:
    """Poll the ``events`` table until it holds ``expected`` rows (or time runs out).

    Returns:
        The stored ids (one per row), whatever their number when the wait ended.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ids: list[str] = []
    while loop.time() < deadline:
        try:
            ids = await stored_event_ids(database_url)
        except (OSError, asyncpg.PostgresError):
            ids = []
        if len(ids) >= expected:
            await asyncio.sleep(1.0)  # let any late duplicate land before counting
            return await stored_event_ids(database_url)
        await asyncio.sleep(0.5)
    return ids


async def queue_depth(amqp_url: str, queue: str) -> int:
    """Messages in ``queue`` now, asked of the broker (``queue.declare``, passive)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        result = declared.declaration_result
        return int(result.message_count or 0)


async def drain(amqp_url: str, queue: str) -> list[AbstractIncomingMessage]:
    """Take (and acknowledge) every message now in ``queue``."""
    taken: list[AbstractIncomingMessage] = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        source = await channel.get_queue(queue, ensure=True)
        while (message := await source.get(no_ack=True, fail=False)) is not None:
            taken.append(message)
    return taken
