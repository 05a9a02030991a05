"""Postgres refusing writes for a reason an operator must fix: nothing acked, nothing lost.

Each case breaks a running service's database the way an operator could (a revoked
grant, a dropped table, a read-only database), then checks that the service reports
not ready with the SQLSTATE (ping reply and the ``writes_blocked`` gauge), acknowledges
nothing, and, once the fault is repaired, stores every held event exactly once.

The service connects as a role of its own that owns the database and ran the
migrations, so a superuser can revoke its privileges.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from prometheus_client import REGISTRY
from pydantic import TypeAdapter
from tests.conftest import BASE_DATABASE_URL, _with_path, drop_database
from tests.integration.session_logger.conftest import (
    make_settings,
    queue_messages,
    running,
    wait_settled,
    wait_until,
)

from lectern import topology
from lectern.broker import publish_event
from lectern.contracts import PingRequest, PingResponse, SearchCompleted
from lectern.reads import ReadReply
from lectern.rpc import BrokerUnavailableError, RpcClient
from lectern_session_logger.app import create_app
from lectern_session_logger.migrations import run_migrations
from lectern_session_logger.settings import DEFAULT_MIGRATIONS_DIR

pytestmark = pytest.mark.integration

REPLY: TypeAdapter[ReadReply] = TypeAdapter(ReadReply)
HELD = 30
"""Events published while writes are refused."""

Fault = Callable[["Database"], Awaitable[None]]


@dataclass
class Database:
    """The test database, its owner role, and a superuser connection to it."""

    name: str
    role: str
    admin: asyncpg.Connection

    async def on_server(self, sql: str) -> None:
        """Run ``sql`` on the ``postgres`` database as the superuser."""
        server = await asyncpg.connect(_with_path(BASE_DATABASE_URL, "/postgres"))
        try:
            await server.execute(sql)
        finally:
            await server.close()

    async def terminate_sessions(self) -> None:
        """End every session of the database except the test's own."""
        await self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name,
        )


def _as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
async def owned(database_url: str) -> AsyncIterator[tuple[str, Database]]:
    """The test database owned by a fresh login role; yields ``(role_url, Database)``."""
    name = database_url.rsplit("/", 1)[1]
    role = f"lectern_writer_{uuid.uuid4().hex[:10]}"
    server = await asyncpg.connect(_with_path(BASE_DATABASE_URL, "/postgres"))
    try:
        await server.execute(f'CREATE ROLE "{role}" LOGIN')
        await server.execute(f'ALTER DATABASE "{name}" OWNER TO "{role}"')
        admin = await asyncpg.connect(database_url)
        try:
            yield _as_role(database_url, role), Database(name, role, admin)
        finally:
            await admin.close()
    finally:
        drop_database(name)  # the role owns it: drop it before the role
        await server.execute(f'DROP ROLE IF EXISTS "{role}"')
        await server.close()


def _sessions_ddl() -> str:
    """The ``sessions`` table as the migrations build it: its CREATE, then every ALTER."""
    statements: list[str] = []
    for path in sorted(DEFAULT_MIGRATIONS_DIR.glob("*.sql")):
        up = path.read_text().split("-- migrate:down")[0]
        statements += re.findall(r"(?:CREATE|ALTER) TABLE sessions\b.*?;", up, re.DOTALL)
    assert statements
    assert statements[0].startswith("CREATE")
    return "\n".join(statements)


async def revoke_insert(db: Database) -> None:
    await db.admin.execute(f'REVOKE INSERT ON events FROM "{db.role}"')


async def grant_insert(db: Database) -> None:
    await db.admin.execute(f'GRANT INSERT ON events TO "{db.role}"')


async def drop_sessions_table(db: Database) -> None:
    await db.admin.execute("DROP TABLE sessions")


async def recreate_sessions_table(db: Database) -> None:
    await db.admin.execute(_sessions_ddl())
    await db.admin.execute(f'ALTER TABLE sessions OWNER TO "{db.role}"')


async def make_read_only(db: Database) -> None:
    await db.on_server(f'ALTER DATABASE "{db.name}" SET default_transaction_read_only = on')
    await db.terminate_sessions()  # the setting applies to new sessions


async def make_writable(db: Database) -> None:
    await db.on_server(f'ALTER DATABASE "{db.name}" RESET default_transaction_read_only')


async def _ping(rpc: RpcClient) -> PingResponse | None:
    """The service's ping reply, ``None`` if the RPC did not make it (a loaded machine)."""
    body = PingRequest().model_dump_json().encode()
    try:
        raw = await rpc.call(topology.SESSION_LOGGER_RPC_QUEUE, body, timeout=5)
    except (BrokerUnavailableError, TimeoutError):
        return None
    reply = REPLY.validate_json(raw)
    assert isinstance(reply, PingResponse)
    return reply


def _blocked_gauge(sqlstate: str) -> float:
    labels = {"sqlstate": sqlstate}
    return REGISTRY.get_sample_value("lectern_session_logger_writes_blocked", labels) or 0.0


def _events(count: int, session_id: str) -> list[SearchCompleted]:
    return [
        SearchCompleted(
            session_id=session_id,
            query=f"q{n}",
            mode="hybrid",
            top_k=1,
            hit_count=1,
            latency_ms=1.0,
        )
        for n in range(count)
    ]


@pytest.mark.parametrize(
    ("sqlstate", "fault", "repair"),
    [
        ("42501", revoke_insert, grant_insert),
        ("42P01", drop_sessions_table, recreate_sessions_table),
        ("25006", make_read_only, make_writable),
    ],
    ids=["revoked-grant", "dropped-table", "read-only-database"],
)
async def test_refused_writes_hold_every_event_until_repaired(
    amqp_url: str,
    owned: tuple[str, Database],
    publisher: RabbitBroker,
    sqlstate: str,
    fault: Fault,
    repair: Fault,
):
    role_url, db = owned
    settings = make_settings(amqp_url, role_url)
    await run_migrations(settings)
    async with running(create_app(settings)):
        rpc = RpcClient(amqp_url, name="test")
        await rpc.connect()
        try:
            before = _events(5, "before")
            for event in before:
                await publish_event(publisher, event)
            await wait_until(lambda: _count(db.admin, len(before)))
            await fault(db)
            held = _events(HELD, "held")
            for event in held:
                await publish_event(publisher, event)

            async def reported() -> bool:
                ping = await _ping(rpc)
                return ping is not None and f"SQLSTATE {sqlstate}" in (ping.detail or "")

            async def recovered() -> bool:
                ping = await _ping(rpc)
                return ping is not None and ping.store_ok

            await wait_until(reported, timeout=60)  # detail names it only while store_ok is false
            assert _blocked_gauge(sqlstate) == 1
            assert await db.admin.fetchval("SELECT count(*) FROM events") == len(before)

            async def none_acknowledged() -> bool:  # broker statistics lag: wait for them
                return (await asyncio.to_thread(queue_messages, amqp_url))[0] == HELD

            await wait_until(none_acknowledged, timeout=60)
            assert await db.admin.fetchval("SELECT count(*) FROM events") == len(before)
            await repair(db)
            await wait_until(lambda: _count(db.admin, len(before) + HELD), timeout=60)
            await wait_settled(amqp_url, timeout=30)
            await wait_until(recovered, timeout=30)
        finally:
            await rpc.close()
    assert _blocked_gauge(sqlstate) == 0
    rows = await db.admin.fetch("SELECT event_id FROM events")
    assert sorted(str(r["event_id"]) for r in rows) == sorted(
        str(e.event_id) for e in [*before, *held]
    )
    counters = await db.admin.fetchrow(
        "SELECT search_count, event_count FROM sessions WHERE session_id = 'held'"
    )
    assert counters is not None
    assert (counters["search_count"], counters["event_count"]) == (HELD, HELD)


async def _count(connection: asyncpg.Connection, expected: int) -> bool:
    return bool(await connection.fetchval("SELECT count(*) FROM events") == expected)
