"""A crash after the commit and before the acks: redelivery stores nothing twice."""

from __future__ import annotations

import asyncio
import json
import os

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from tests.conftest import REPO_ROOT

from lectern.broker import publish_event
from lectern.contracts import SearchCompleted
from lectern.failpoints import CRASH_EXIT_CODE

pytestmark = pytest.mark.integration

BINARY = str(REPO_ROOT / ".venv" / "bin" / "lectern-session-logger")


async def start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        BINARY, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )


async def _stored_batches(process: asyncio.subprocess.Process, events: int) -> dict[str, int]:
    """Read the service's JSON logs until its batches hold ``events``; sum their counts.

    How the redelivered messages fall into batches depends on timing; the sums do not.
    """
    assert process.stderr is not None
    total = {"size": 0, "inserted": 0}
    while line := await process.stderr.readline():
        record = json.loads(line) if line.startswith(b"{") else {}
        if record.get("event") == "batch.stored":
            total = {
                "size": total["size"] + record["size"],
                "inserted": total["inserted"] + record["inserted"],
            }
            if total["size"] >= events:
                return total
    raise AssertionError(f"the service stopped after storing {total}")


async def test_redelivered_batch_after_a_crash_is_stored_once(
    publisher: RabbitBroker, amqp_url: str, database_url: str
):
    env = {
        **os.environ,
        "RABBITMQ_URL": amqp_url,
        "DATABASE_URL": database_url,
        "BATCH_MAX_WAIT_MS": "200",
        "LOG_JSON": "true",
    }
    events = [
        SearchCompleted(
            query=f"q{n}", mode="hybrid", top_k=5, hit_count=1, latency_ms=1.0, session_id="c"
        )
        for n in range(50)
    ]
    await asyncio.gather(*(publish_event(publisher, event) for event in events))
    crashing = await start(env | {"LECTERN_FAILPOINTS": "session-logger.after-commit"})
    _, stderr = await asyncio.wait_for(crashing.communicate(), 120)
    assert crashing.returncode == CRASH_EXIT_CODE, stderr.decode()[-2000:]
    connection = await asyncpg.connect(database_url)
    try:
        committed = await connection.fetchval("SELECT count(*) FROM events")
        assert committed > 0  # the crash came after a commit
        healthy = await start(env | {"LOG_LEVEL": "DEBUG"})
        try:
            redelivered = await asyncio.wait_for(_stored_batches(healthy, len(events)), 120)
        finally:
            healthy.terminate()
            await healthy.wait()
        # Every message came again; the committed ones inserted nothing the second time.
        assert redelivered == {"size": len(events), "inserted": len(events) - committed}
        assert await connection.fetchval("SELECT count(*) FROM events") == len(events)
        counts = await connection.fetchrow(
            "SELECT search_count, event_count FROM sessions WHERE session_id = 'c'"
        )
        assert counts is not None
        assert (counts["search_count"], counts["event_count"]) == (50, 50)
        assert healthy.returncode == 0
    finally:
        await connection.close()
