"""Session-logger throughput: events/s durable in Postgres, end to end, vs a raw COPY.

Runs on a fresh RabbitMQ vhost and two fresh databases (dropped afterwards):

1. starts ``lectern-session-logger`` as a process (migrations, then consuming);
2. publishes ``--events`` events (default 100,000; searches, answers and document events)
   to ``lectern.events`` with publisher confirms, persistent and mandatory;
3. measures from the first publish until the last row is in ``events`` (polling
   ``count(*)``): the end-to-end rate;
4. writes the same rows with asyncpg ``copy_records_to_table`` into the ``events`` table
   of the second database (same schema and partitions, no projections, one process):
   the baseline rate;
   Publishing can be split over ``--publishers`` processes (default 1), as several gateway
   replicas would publish (on 2 cores this adds no throughput: CPU is the limit).
5. (unless ``--no-backlog``) publishes the same number of new events while no
   session-logger runs, then starts one and measures from its first stored row to the
   last: the consumer's own rate when the publisher is not the limit.

Prints the rates and the ratio of end-to-end to COPY. Usage::

    uv run python bench/session_logger_throughput.py [--events 100000]

``RABBITMQ_URL`` and ``DATABASE_URL`` name the servers (defaults: local guest, postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg

from lectern import topology
from lectern.contracts import (
    AnswerCompleted,
    DocumentAccepted,
    DocumentIndexed,
    Event,
    SearchCompleted,
)
from lectern_session_logger.events import parse_event

ROOT = Path(__file__).resolve().parent.parent
AMQP = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/lectern")
BINARY = str(ROOT / ".venv" / "bin" / "lectern-session-logger")
IN_FLIGHT = 2000
"""Unconfirmed publishes allowed at once."""


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def make_event(n: int, start: datetime) -> Event:
    """Event ``n`` of a realistic mix: 80% searches, 10% answers, 10% document events."""
    common: dict[str, Any] = {"occurred_at": start + timedelta(milliseconds=n * 10)}
    session = {"session_id": f"session-{n % 1000}", "correlation_id": uuid.uuid4().hex}
    if n % 10 < 8:
        return SearchCompleted(
            query=f"how do I install gazebo {n % 300}",
            mode="hybrid",
            top_k=5,
            hit_count=n % 6,
            latency_ms=float(5 + n % 90),
            chunk_ids=[f"c{n}", f"c{n + 1}"],
            **common,
            **session,
        )
    if n % 10 == 8:
        return AnswerCompleted(
            question="what is a world file?",
            answer="An SDF file that describes a world. [1]",
            latency_ms=120.0,
            cited_chunk_ids=[f"c{n}"],
            **common,
            **session,
        )
    document = {"document_id": f"doc-{n % 5000}", "version": "a" * 64, **common}
    if n % 20 == 9:
        return DocumentAccepted(
            title="Install on Ubuntu",
            source="docs/install.md",
            format="markdown",
            size_bytes=4096,
            **document,
        )
    return DocumentIndexed(chunk_count=12, duration_ms=80.0, **document)


def make_events(count: int) -> list[Event]:
    start = datetime.now(UTC) - timedelta(minutes=30)
    return [make_event(n, start) for n in range(count)]


def make_vhost() -> tuple[str, str]:
    name = f"session-logger-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True
    )
    return name, with_path(AMQP, "/" + name)


async def admin(sql: str) -> None:
    connection = await asyncpg.connect(with_path(POSTGRES, "/postgres"))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def count_rows(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM events"))


async def wait_for_consumer(amqp_url: str, process: subprocess.Popen[bytes]) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("the session-logger exited")
            try:
                queue = await channel.declare_queue(
                    topology.SESSION_LOGGER_EVENTS_QUEUE, passive=True
                )
                result = queue.declaration_result
                if result is not None and result.consumer_count:
                    return
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
            await asyncio.sleep(0.1)
    raise TimeoutError("the session-logger did not start consuming")


async def publish_all(amqp_url: str, bodies: list[tuple[str, bytes, str]]) -> float:
    """Publish every body with confirms; return the seconds it took."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(topology.EVENTS_EXCHANGE_NAME)
        window = asyncio.Semaphore(IN_FLIGHT)

        async def one(routing_key: str, body: bytes, message_id: str) -> None:
            async with window:
                message = aio_pika.Message(
                    body,
                    content_type="application/json",
                    message_id=message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                )
                await exchange.publish(message, routing_key=routing_key, mandatory=True)

        started = time.perf_counter()
        await asyncio.gather(*(one(*item) for item in bodies))
        return time.perf_counter() - started


def _publish_slice(amqp_url: str, bodies: list[tuple[str, bytes, str]]) -> float:
    """Entry point of a publisher process: publish one slice with confirms."""
    return asyncio.run(publish_all(amqp_url, bodies))


async def publish_in_processes(
    amqp_url: str, bodies: list[tuple[str, bytes, str]], publishers: int
) -> float:
    """Publish ``bodies`` from ``publishers`` processes at once, as gateway replicas would.

    Returns:
        Seconds from the first publish until the last process's last confirm.
    """
    if publishers <= 1:
        return await publish_all(amqp_url, bodies)
    slices = [bodies[i::publishers] for i in range(publishers)]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(publishers, mp_context=context) as pool:
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(pool, _publish_slice, amqp_url, part) for part in slices)
        )
    return time.perf_counter() - started


async def end_to_end(
    amqp_url: str, database_url: str, events: list[Event], publishers: int
) -> dict[str, float]:
    bodies = [(e.event_type, e.model_dump_json().encode(), str(e.event_id)) for e in events]
    process = start_service(amqp_url, database_url)
    try:
        await wait_for_consumer(amqp_url, process)
        connection = await asyncpg.connect(database_url)
        try:
            started = time.perf_counter()
            publish_task = asyncio.create_task(publish_in_processes(amqp_url, bodies, publishers))
            while await count_rows(connection) < len(events):
                if publish_task.done() and publish_task.exception():
                    raise publish_task.exception()  # type: ignore[misc]
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            publish_s = await publish_task
        finally:
            await connection.close()
    finally:
        process.terminate()
        process.wait(timeout=60)
    return {"seconds": elapsed, "rate": len(events) / elapsed, "publish_s": publish_s}


def start_service(amqp_url: str, database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RABBITMQ_URL": amqp_url, "DATABASE_URL": database_url}
    env.setdefault("LOG_LEVEL", "WARNING")
    return subprocess.Popen([BINARY], env=env)


async def run(*command: str, database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    if await process.wait():
        raise RuntimeError(f"{command} failed")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backlog_drain(
    amqp_url: str, database_url: str, events: list[Event], profile: Path | None = None
) -> float:
    """Queue ``events`` with no consumer, start the service, time first row → last row.

    Args:
        amqp_url: the vhost the service consumes from (topology declared).
        database_url: a fresh database (migrated here).
        events: the events queued.
        profile: when set, ``py-spy record`` samples the service from its first stored
            row to the last and writes the folded stacks there.

    Returns:
        Events per second.
    """
    return (await backlog_drain_figures(amqp_url, database_url, events, profile))["rate"]


async def backlog_drain_figures(
    amqp_url: str, database_url: str, events: list[Event], profile: Path | None = None
) -> dict[str, float]:
    """:func:`backlog_drain` with the service's CPU time: ``rate`` (events/s), ``cpu_s``.

    ``cpu_s`` is the service process's user + system CPU from its first stored row to
    the last: unlike the rate, it hardly moves when other work shares the cores.
    """
    await run(BINARY, "migrate", database_url=database_url)
    bodies = [(e.event_type, e.model_dump_json().encode(), str(e.event_id)) for e in events]
    await publish_all(amqp_url, bodies)
    process = start_service(amqp_url, database_url)
    try:
        connection = await asyncpg.connect(database_url)
        try:
            while await count_rows(connection) == 0:  # noqa: ASYNC110 - polling Postgres
                await asyncio.sleep(0.01)
            spy = None
            if profile is not None:
                from bench.profiling import PySpy  # only when profiling

                spy = PySpy(process.pid, profile, rate=100)
            started, cpu_started = time.perf_counter(), process_cpu_s(process.pid)
            while await count_rows(connection) < len(events):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            elapsed, cpu_s = time.perf_counter() - started, process_cpu_s(process.pid) - cpu_started
            if spy is not None:
                await asyncio.to_thread(spy.stop)
            return {"rate": len(events) / elapsed, "cpu_s": cpu_s}
        finally:
            await connection.close()
    finally:
        process.terminate()
        process.wait(timeout=60)


async def raw_copy(database_url: str, events: list[Event]) -> dict[str, float]:
    rows = []
    for event in events:
        stored = parse_event(event.model_dump_json().encode())
        rows.append(
            (
                stored.event_id,
                stored.occurred_at,
                datetime.now(UTC),
                stored.event_type,
                stored.schema_version,
                stored.correlation_id,
                stored.session_id,
                stored.document_id,
                stored.payload,
            )
        )
    connection = await asyncpg.connect(database_url)
    try:
        columns = [
            "event_id",
            "occurred_at",
            "received_at",
            "event_type",
            "schema_version",
            "correlation_id",
            "session_id",
            "document_id",
            "payload",
        ]
        started = time.perf_counter()
        await connection.copy_records_to_table("events", records=rows, columns=columns)
        elapsed = time.perf_counter() - started
        assert await count_rows(connection) == len(events)
    finally:
        await connection.close()
    return {"seconds": elapsed, "rate": len(events) / elapsed}


async def main(count: int, backlog: bool, publishers: int) -> None:
    vhost, amqp_url = make_vhost()
    names = [f"session_logger_bench_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    urls = [with_path(POSTGRES, "/" + name) for name in names]
    events = make_events(count)
    try:
        service = await end_to_end(amqp_url, urls[0], events, publishers)
        await run(BINARY, "migrate", database_url=urls[1])
        await run(BINARY, "retention", database_url=urls[1])  # the same partitions
        copy = await raw_copy(urls[1], events)
        drained = await backlog_drain(amqp_url, urls[2], make_events(count)) if backlog else None
    finally:
        await asyncio.to_thread(
            subprocess.run, ["rabbitmqctl", "-q", "delete_vhost", vhost], check=False
        )
        for name in names:
            await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report: dict[str, Any] = {
        "events": count,
        "publishers": publishers,
        "end_to_end_s": round(service["seconds"], 2),
        "end_to_end_events_per_s": round(service["rate"]),
        "publish_with_confirms_s": round(service["publish_s"], 2),
        "raw_copy_s": round(copy["seconds"], 2),
        "raw_copy_events_per_s": round(copy["rate"]),
        "ratio_end_to_end_over_copy": round(service["rate"] / copy["rate"], 3),
        "backlog_drain_events_per_s": round(drained) if drained else None,
        "load_average_1m": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    print(
        f"end to end: {report['end_to_end_events_per_s']:,} events/s durable in Postgres; "
        f"raw COPY: {report['raw_copy_events_per_s']:,} events/s; "
        f"ratio {report['ratio_end_to_end_over_copy']:.3f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--no-backlog", action="store_true", help="skip the backlog drain")
    parser.add_argument(
        "--publishers", type=int, default=1, help="publisher processes (gateway replicas)"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, not arguments.no_backlog, arguments.publishers))
