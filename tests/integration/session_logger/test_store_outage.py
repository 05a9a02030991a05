"""Postgres refusing connections: events are never acked nor lost, and flow once it is back.

The database is made to refuse connections (``ALLOW_CONNECTIONS false`` and its sessions
terminated) rather than stopping the shared Postgres server.
"""

from __future__ import annotations

import asyncio

import aio_pika
import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from tests.conftest import BASE_DATABASE_URL, _with_path
from tests.integration.session_logger.conftest import (
    make_settings,
    queue_messages,
    running,
    wait_for_rows,
    wait_until,
)

from lectern import topology
from lectern.broker import publish_event
from lectern.contracts import PingRequest, PingResponse, SearchCompleted
from lectern.rpc import BrokerUnavailableError, RpcClient
from lectern_session_logger.app import create_app
from lectern_session_logger.migrations import run_migrations

pytestmark = pytest.mark.integration


async def _allow_connections(database_url: str, allowed: bool) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(_with_path(BASE_DATABASE_URL, "/postgres"))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
    finally:
        await admin.close()


async def _ready_messages(amqp_url: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.SESSION_LOGGER_EVENTS_QUEUE, passive=True)
        result = queue.declaration_result
        return int(result.message_count or 0)


async def _writes_failing(amqp_url: str) -> bool:
    client = RpcClient(amqp_url, name="test")
    await client.connect()
    try:
        body = PingRequest().model_dump_json().encode()
        raw = await client.call(topology.SESSION_LOGGER_RPC_QUEUE, body, timeout=5)
    except (BrokerUnavailableError, TimeoutError):
        return False
    finally:
        await client.close()
    reply = PingResponse.model_validate_json(raw)
    return not reply.store_ok  # ALLOW_CONNECTIONS false: SQLSTATE 55000, an operator's doing


def _search() -> SearchCompleted:
    return SearchCompleted(query="q", mode="hybrid", top_k=1, hit_count=1, latency_ms=1.0)


async def test_events_wait_in_rabbitmq_while_postgres_is_away(
    publisher: RabbitBroker, amqp_url: str, database_url: str
):
    settings = make_settings(amqp_url, database_url, shutdown_grace_s=1)
    await run_migrations(settings)
    async with running(create_app(settings)):
        await _allow_connections(database_url, allowed=False)
        try:
            await asyncio.gather(*(publish_event(publisher, _search()) for _ in range(20)))

            async def held() -> bool:  # delivered to the service, none acknowledged
                return await asyncio.to_thread(queue_messages, amqp_url) == (20, 20)

            await wait_until(held, timeout=60)
            await wait_until(lambda: _writes_failing(amqp_url), timeout=60)
        except BaseException:
            await _allow_connections(database_url, allowed=True)
            raise
    # The service stopped while Postgres was away: RabbitMQ holds every event again.
    assert await _ready_messages(amqp_url) == 20
    await _allow_connections(database_url, allowed=True)
    async with running(create_app(settings)):
        connection = await asyncpg.connect(database_url)
        try:
            await wait_for_rows(connection, 20, timeout=60)
            assert await connection.fetchval("SELECT count(*) FROM events") == 20
        finally:
            await connection.close()
    assert await _ready_messages(amqp_url) == 0
