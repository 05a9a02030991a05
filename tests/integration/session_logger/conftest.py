"""Fixtures for the session-logger against real RabbitMQ and Postgres.

``service`` runs the whole FastStream app in-process (migrations, lifespan, both
subscribers) on the test's fresh vhost and database; ``publisher`` publishes events
with confirms; ``db`` is a plain asyncpg connection to the test database.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from faststream import FastStream
from faststream.rabbit import RabbitBroker

from lectern import topology
from lectern.broker import create_broker, declare_topology, publish_event
from lectern.contracts import Event
from lectern.rpc import RpcClient
from lectern_session_logger.app import create_app
from lectern_session_logger.migrations import run_migrations
from lectern_session_logger.settings import SessionLoggerSettings


def make_settings(amqp_url: str, database_url: str, **overrides: Any) -> SessionLoggerSettings:
    values: dict[str, Any] = {
        "rabbitmq_url": amqp_url,
        "database_url": database_url,
        "batch_max_wait_ms": 20,
        "shutdown_grace_s": 10,
        **overrides,
    }
    return SessionLoggerSettings(**values)


@asynccontextmanager
async def running(app: FastStream) -> AsyncIterator[FastStream]:
    """Run ``app`` like ``FastStream.run`` does, without taking over the signals."""
    async with app.lifespan_context():
        await app.start()
        try:
            yield app
        finally:
            await app.stop()


@pytest.fixture
def settings(amqp_url: str, database_url: str) -> SessionLoggerSettings:
    return make_settings(amqp_url, database_url)


@pytest.fixture
async def service(settings: SessionLoggerSettings) -> AsyncIterator[FastStream]:
    await run_migrations(settings)
    async with running(create_app(settings)) as app:
        yield app


@pytest.fixture
async def publisher(amqp_url: str) -> AsyncIterator[RabbitBroker]:
    broker = create_broker(amqp_url)
    await broker.connect()
    await declare_topology(amqp_url)
    yield broker
    await broker.stop()


@pytest.fixture
async def db(database_url: str, service: FastStream) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 20.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


async def wait_for_rows(connection: asyncpg.Connection, count: int, timeout: float = 30.0) -> None:
    async def enough() -> bool:
        return bool(await connection.fetchval("SELECT count(*) FROM events") >= count)

    await wait_until(enough, timeout)


def queue_messages(
    amqp_url: str, queue: str = topology.SESSION_LOGGER_EVENTS_QUEUE
) -> tuple[int, int]:
    """``(messages, unacknowledged)`` of ``queue`` in the test's vhost (``rabbitmqctl``).

    ``messages`` counts ready and unacknowledged messages: 0 means every delivery was
    settled.
    """
    vhost = amqp_url.rsplit("/", 1)[1]
    output = subprocess.run(
        [
            *("rabbitmqctl", "-q", "list_queues", "-p", vhost, "--formatter", "json"),
            *("name", "messages", "messages_unacknowledged"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (found,) = [q for q in json.loads(output) if q["name"] == queue]
    return int(found["messages"]), int(found["messages_unacknowledged"])


async def wait_settled(amqp_url: str, timeout: float = 60.0) -> None:
    """Wait until ``session-logger.events`` holds no message, ready or unacknowledged.

    Then every published event was handled (stored, or dead-lettered), duplicates too.
    """

    async def settled() -> bool:
        return await asyncio.to_thread(queue_messages, amqp_url) == (0, 0)

    await wait_until(settled, timeout, interval=0.2)


@asynccontextmanager
async def rpc_after(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str, events: list[Event]
) -> AsyncIterator[RpcClient]:
    """Publish ``events``, wait until each is a row, then yield a connected RPC client."""
    await asyncio.gather(*(publish_event(publisher, event) for event in events))
    await wait_for_rows(db, len(events))
    client = RpcClient(amqp_url, name="test")
    await client.connect()
    try:
        yield client
    finally:
        await client.close()
