"""Benchmark 5: the session-logger's drain rate next to a bare consumer and a raw COPY.

On a fresh vhost and fresh databases (dropped afterwards), from the same N events (the
mix of :func:`bench.session_logger_throughput.make_events`):

- **drain:** N events wait in ``session-logger.events`` (published with confirms while
  no consumer runs); ``lectern-session-logger`` starts and the time from its first
  stored row to the last is the drain rate;
- **bare consumer:** the same N events queued again; an aio-pika consumer with the
  session-logger's prefetch (two batches) acknowledges them a batch at a time
  (``basic.ack(multiple)`` every ``BATCH_SIZE`` deliveries, as the service does after a
  commit) without parsing or writing: first delivery to last ack;
- **raw COPY:** the same rows through asyncpg ``copy_records_to_table`` into a migrated
  ``events`` table in one process;
- **end to end:** events/s from the first publish to the last stored row while one
  publisher process publishes: on this machine the publisher's CPU bounds it.

The figure is drain / bare consume (issue 13's target >= 0.8).
"""

from __future__ import annotations

import asyncio
import time

import aio_pika
from tests.conftest import drop_database, drop_vhost, make_database, make_vhost

from bench.report import Row, Target
from bench.session_logger_throughput import (
    BINARY,
    backlog_drain,
    end_to_end,
    make_events,
    publish_all,
    raw_copy,
)
from bench.session_logger_throughput import run as run_command
from lectern import topology
from lectern.broker import declare_topology
from lectern_session_logger.settings import SessionLoggerSettings

SECTION = "5 event log"


async def bare_consume(amqp_url: str, count: int) -> float:
    """Queue ``count`` events, then ack them in batches without work; return events/s."""
    bodies = [
        (e.event_type, e.model_dump_json().encode(), str(e.event_id)) for e in make_events(count)
    ]
    await publish_all(amqp_url, bodies)
    defaults = SessionLoggerSettings.model_fields
    batch = int(defaults["batch_size"].default)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2 * batch)
        queue = await channel.get_queue(topology.SESSION_LOGGER_EVENTS_QUEUE)
        done = asyncio.Event()
        seen = 0
        first = 0.0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen, first
            seen += 1
            if seen == 1:
                first = time.perf_counter()
            if seen % batch == 0 or seen == count:
                await message.ack(multiple=True)
            if seen == count:
                done.set()

        tag = await queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=3600)
        elapsed = time.perf_counter() - first
        await queue.cancel(tag)
    return count / elapsed


async def measure(count: int) -> dict[str, float]:
    """Every figure of the module doc, in events per second."""
    vhost, amqp_url = make_vhost()
    databases = [make_database() for _ in range(3)]
    try:
        await declare_topology(amqp_url)
        bare = await bare_consume(amqp_url, count)
        drain = await backlog_drain(amqp_url, databases[0][1], make_events(count))
        await run_command(BINARY, "migrate", database_url=databases[1][1])
        await run_command(BINARY, "retention", database_url=databases[1][1])  # the same partitions
        copy = await raw_copy(databases[1][1], make_events(count))
        e2e = await end_to_end(amqp_url, databases[2][1], make_events(count), 1)
    finally:
        drop_vhost(vhost)
        for name, _ in databases:
            drop_database(name)
    return {"bare": bare, "drain": drain, "copy": copy["rate"], "end_to_end": e2e["rate"]}


def rows(count: int, figures: dict[str, float]) -> list[Row]:
    """Report rows: drain next to the bare consumer (the target) and next to COPY."""
    size = f"{count:,} events"
    return [
        Row(
            SECTION,
            "drain of a pre-filled queue",
            figures["drain"],
            "events/s",
            figures["bare"],
            "bare consumer, ack only",
            Target("ratio_min", 0.8),
            size,
        ),
        Row(
            SECTION,
            "drain vs raw COPY",
            figures["drain"],
            "events/s",
            figures["copy"],
            "asyncpg COPY, same rows",
            note=size,
        ),
        Row(
            SECTION,
            "end to end (publish -> stored)",
            figures["end_to_end"],
            "events/s",
            note="bound by this machine's publisher CPU (1 publisher process)",
        ),
    ]


async def run(count: int) -> list[Row]:
    """Measure with ``count`` events; the report rows."""
    return rows(count, await measure(count))
