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

On its own, for A/B runs at a mid size and a profile of the drain::

    uv run python -m bench.event_log --events 20000 [--no-end-to-end] [--profile out.txt]

``--profile`` samples the session-logger with py-spy from its first stored row to the
last and prints the share of samples per stage (:data:`DRAIN_STAGES`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import aio_pika
from tests.conftest import drop_database, drop_vhost, make_database, make_vhost

from bench.profiling import IDLE, IDLE_LEAVES, OTHER
from bench.report import Row, Target
from bench.session_logger_throughput import (
    BINARY,
    backlog_drain_figures,
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

DRAIN_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tracing", ("lectern_session_logger/tracing", "opentelemetry")),
    ("metrics", ("prometheus_client", "lectern_session_logger/metrics")),
    ("parse + validate", ("lectern_session_logger/events", "pydantic")),
    ("Postgres write", ("asyncpg", "lectern_session_logger/store")),
    ("acks", ("lectern_session_logger/acks",)),
    ("batcher", ("lectern_session_logger/batching",)),
    ("broker (aio-pika)", ("aio_pika", "aiormq", "pamqp")),
    ("consumer glue", ("lectern_session_logger/consumer",)),
)
"""Stage -> frame substrings, innermost match wins (a parse inside a delivery callback
counts as parse, not as the consumer around it)."""


async def bare_consume(amqp_url: str, count: int) -> dict[str, float]:
    """Queue ``count`` events, then ack them in batches without work.

    Returns:
        ``rate`` (events/s, first delivery to last ack) and ``cpu_s`` (this process's
        CPU seconds over the same span).
    """
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
        cpu_first = [0.0]

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen, first
            seen += 1
            if seen == 1:
                first = time.perf_counter()
                cpu_first[0] = time.process_time()
            if seen % batch == 0 or seen == count:
                await message.ack(multiple=True)
            if seen == count:
                done.set()

        tag = await queue.consume(on_message)
        await asyncio.wait_for(done.wait(), timeout=3600)
        elapsed, cpu_s = time.perf_counter() - first, time.process_time() - cpu_first[0]
        await queue.cancel(tag)
    return {"rate": count / elapsed, "cpu_s": cpu_s}


def drain_stage(stack: str) -> str:
    """The stage of one folded stack of the session-logger (``;``-separated frames).

    Returns:
        ``idle / waiting`` when the innermost frame waits; else the stage of
        :data:`DRAIN_STAGES` whose pattern occurs in the innermost frame that matches
        any; else ``other Python``.
    """
    frames = stack.split(";")
    if any(pattern in frames[-1] for pattern in IDLE_LEAVES):
        return IDLE
    for frame in reversed(frames):
        for stage, patterns in DRAIN_STAGES:
            if any(pattern in frame for pattern in patterns):
                return stage
    return OTHER


def drain_shares(folded: Iterable[str]) -> dict[str, float]:
    """Share of samples per :func:`drain_stage`, largest first (0-1, summing to 1)."""
    counts: Counter[str] = Counter()
    for line in folded:
        stack, _, number = line.strip().rpartition(" ")
        if stack and number.isdigit():
            counts[drain_stage(stack)] += int(number)
    total = sum(counts.values())
    return {stage: n / total for stage, n in counts.most_common()} if total else {}


async def measure(
    count: int, *, with_end_to_end: bool = True, profile: Path | None = None
) -> dict[str, float]:
    """Every figure of the module doc, in events per second, and CPU per event.

    ``bare_cpu_us_per_event`` / ``drain_cpu_us_per_event``: CPU microseconds per event
    of the bare consumer's process and of the session-logger's (Postgres and RabbitMQ
    not counted): the cost per event that load from other work hardly moves.

    Args:
        count: events per figure.
        with_end_to_end: also measure the publisher-bound end-to-end rate.
        profile: where to write py-spy's folded stacks of the drain (none if ``None``).
    """
    vhost, amqp_url = make_vhost()
    databases = [make_database() for _ in range(3)]
    figures: dict[str, float] = {}
    try:
        await declare_topology(amqp_url)
        bare = await bare_consume(amqp_url, count)
        drain = await backlog_drain_figures(amqp_url, databases[0][1], make_events(count), profile)
        figures["bare"], figures["drain"] = bare["rate"], drain["rate"]
        figures["bare_cpu_us_per_event"] = bare["cpu_s"] / count * 1e6
        figures["drain_cpu_us_per_event"] = drain["cpu_s"] / count * 1e6
        await run_command(BINARY, "migrate", database_url=databases[1][1])
        await run_command(BINARY, "retention", database_url=databases[1][1])  # the same partitions
        figures["copy"] = (await raw_copy(databases[1][1], make_events(count)))["rate"]
        if with_end_to_end:
            e2e = await end_to_end(amqp_url, databases[2][1], make_events(count), 1)
            figures["end_to_end"] = e2e["rate"]
    finally:
        drop_vhost(vhost)
        for name, _ in databases:
            drop_database(name)
    return figures


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
            f"{size}; process CPU per event: session-logger "
            f"{figures['drain_cpu_us_per_event']:.0f} us, bare consumer "
            f"{figures['bare_cpu_us_per_event']:.0f} us",
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


def main() -> None:
    """``python -m bench.event_log``: the figures as JSON, the ratio and the load."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the end-to-end run")
    parser.add_argument("--profile", type=Path, help="py-spy folded stacks of the drain here")
    arguments = parser.parse_args()
    figures = asyncio.run(
        measure(
            arguments.events,
            with_end_to_end=not arguments.no_end_to_end,
            profile=arguments.profile,
        )
    )
    report: dict[str, object] = {
        "events": arguments.events,
        **{name: round(value) for name, value in figures.items()},
        "drain_over_bare": round(figures["drain"] / figures["bare"], 3),
        "bare_cpu_over_drain_cpu": round(
            figures["bare_cpu_us_per_event"] / figures["drain_cpu_us_per_event"], 3
        ),
        "load_average_1m": os.getloadavg()[0],
    }
    if arguments.profile is not None:
        shares = drain_shares(arguments.profile.read_text().splitlines())
        report["drain_profile"] = {stage: round(share, 3) for stage, share in shares.items()}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
