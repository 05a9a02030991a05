"""Fault scenarios of the event path: broker restarts, Postgres outages, duplicates."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import httpx
import pytest

from lectern import topology
from lectern.contracts import SearchCompleted
from lectern.failpoints import CRASH_EXIT_CODE
from tests.faults.clients import (
    Ledger,
    drain,
    publish_all,
    queue_depth,
    stored_event_ids,
    wait_stored,
)
from tests.faults.harness import (
    RA_DIRECTORY_SAVE_S,
    PostgresCluster,
    RabbitNode,
    ServiceGroup,
    count_outcomes,
    report,
    wait_until,
)

pytestmark = pytest.mark.faults

SERVICE_QUEUES = (
    *(q.name for q in topology.indexer_shard_queues()),
    topology.INDEXER_RPC_QUEUE,
    topology.SESSION_LOGGER_EVENTS_QUEUE,
    topology.SESSION_LOGGER_RPC_QUEUE,
)


def search_events(count: int, session_id: str = "faults") -> list[SearchCompleted]:
    """``count`` distinct ``search.completed`` events."""
    return [
        SearchCompleted(
            session_id=session_id,
            query=f"question {n}",
            mode="hybrid",
            top_k=5,
            hit_count=n % 4,
            latency_ms=float(n % 50),
        )
        for n in range(count)
    ]


async def session_counts(database_url: str, session_id: str = "faults") -> tuple[int, int]:
    """``(search_count, event_count)`` of a session's projection row (``(0, 0)`` if none).

    The primary key keeps each event one row; these counters are what it does not
    guard: a redelivered or duplicated event must not move them twice.
    """
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT search_count, event_count FROM sessions WHERE session_id = $1", session_id
        )
    finally:
        await connection.close()
    return (int(row["search_count"]), int(row["event_count"])) if row else (0, 0)


def settled(node: RabbitNode, amqp_url: str) -> bool:
    """Whether ``session-logger.events`` holds no message, ready or unacknowledged."""
    vhost = amqp_url.rsplit("/", 1)[1]
    queue = node.list_queues(vhost).get(topology.SESSION_LOGGER_EVENTS_QUEUE)
    return queue is not None and queue["messages"] == 0


async def _start_logger(services: ServiceGroup, env: dict[str, str]) -> None:
    logger = services.start("session-logger", env)
    await asyncio.to_thread(logger.wait_for_log, "session_logger.started", timeout=120)
    await asyncio.sleep(RA_DIRECTORY_SAVE_S)


def _consumers(node: RabbitNode, amqp_url: str) -> dict[str, int]:
    vhost = amqp_url.rsplit("/", 1)[1]
    return {name: q["consumers"] for name, q in node.list_queues(vhost).items()}


async def test_rabbitmq_restart_while_events_flow(
    fault_env: dict[str, str],
    fault_rabbitmq: RabbitNode,
    services: ServiceGroup,
):
    url = fault_env["RABBITMQ_URL"]
    await _start_logger(services, fault_env)
    indexer = services.start("indexer", fault_env)
    gateway = services.start("gateway", fault_env | {"SEARCH_TIMEOUT_S": "2"})
    await asyncio.to_thread(indexer.wait_for_log, "indexer.ready", timeout=120)
    await asyncio.to_thread(gateway.wait_http_ok, "/health/ready", timeout=120)
    events = search_events(2000)
    ledger = Ledger()
    publishing = asyncio.create_task(publish_all(url, events, ledger, window=10, pause_s=0.01))
    await asyncio.to_thread(wait_until, lambda: len(ledger.confirmed) >= 500, timeout=60)
    await asyncio.to_thread(fault_rabbitmq.stop)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=10) as http:
        started = asyncio.get_running_loop().time()
        while_down = await http.get("/health/ready")
        ready_took = asyncio.get_running_loop().time() - started
        search_down = await http.post("/v1/search", json={"query": "x"})
        await asyncio.to_thread(fault_rabbitmq.start)
        await publishing
        stored = await wait_stored(fault_env["DATABASE_URL"], len(events), timeout=180)
        await asyncio.to_thread(
            wait_until,
            lambda: all(_consumers(fault_rabbitmq, url).get(q) == 1 for q in SERVICE_QUEUES),
            timeout=60,
        )
        consumers = await asyncio.to_thread(_consumers, fault_rabbitmq, url)
        await asyncio.to_thread(gateway.wait_http_ok, "/health/ready", timeout=60)
        search_after = await http.post("/v1/search", json={"query": "x"})
    counts = count_outcomes(
        "rabbitmq-restart", sent=ledger.sent, confirmed=ledger.confirmed, stored=stored
    )
    report(
        f"rabbitmq-restart: /health/ready while down {while_down.status_code} in "
        f"{ready_took:.2f} s; search while down {search_down.status_code}; "
        f"search after {search_after.status_code}; consumers after restart "
        f"{ {q: consumers[q] for q in SERVICE_QUEUES} }"
    )
    assert while_down.status_code == 503  # answered (httpx gives up after 10 s), not hung
    assert search_down.status_code == 503
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.unexpected == 0
    assert all(consumers[q] == 1 for q in SERVICE_QUEUES)
    assert search_after.status_code == 200
    await asyncio.to_thread(wait_until, lambda: settled(fault_rabbitmq, url), timeout=60)
    assert await session_counts(fault_env["DATABASE_URL"]) == (len(events), len(events))


async def test_postgres_down_20s_while_events_flow(
    fault_env: dict[str, str],
    fault_postgres: PostgresCluster,
    fault_rabbitmq: RabbitNode,
    services: ServiceGroup,
):
    await _start_logger(services, fault_env)
    events = search_events(1000)
    ledger = Ledger()
    publishing = asyncio.create_task(
        publish_all(fault_env["RABBITMQ_URL"], events, ledger, window=10, pause_s=0.02)
    )
    await asyncio.to_thread(wait_until, lambda: len(ledger.confirmed) >= 200, timeout=60)
    await asyncio.to_thread(fault_postgres.stop)
    await asyncio.sleep(20)  # the fault's length, not a wait for an outcome
    await asyncio.to_thread(fault_postgres.start)
    await publishing
    stored = await wait_stored(fault_env["DATABASE_URL"], len(events), timeout=180)
    counts = count_outcomes(
        "postgres-down-20s", sent=ledger.sent, confirmed=ledger.confirmed, stored=stored
    )
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.unexpected == 0
    assert services.processes["session-logger"].running
    url = fault_env["RABBITMQ_URL"]
    await asyncio.to_thread(wait_until, lambda: settled(fault_rabbitmq, url), timeout=60)
    assert await session_counts(fault_env["DATABASE_URL"]) == (len(events), len(events))


async def test_same_event_three_times_is_one_row(
    fault_env: dict[str, str], fault_rabbitmq: RabbitNode, services: ServiceGroup
):
    await _start_logger(services, fault_env)
    event = search_events(1, session_id=f"triple-{uuid4().hex[:6]}")[0]
    ledger = Ledger()
    await publish_all(fault_env["RABBITMQ_URL"], [event, event, event], ledger)
    sentinel = search_events(1)[0]
    await publish_all(fault_env["RABBITMQ_URL"], [sentinel], ledger)
    stored = await wait_stored(fault_env["DATABASE_URL"], 2, timeout=60)
    counts = count_outcomes(
        "same-event-three-times",
        sent=ledger.sent,
        confirmed=ledger.confirmed,
        stored=stored,
    )
    url = fault_env["RABBITMQ_URL"]
    await asyncio.to_thread(wait_until, lambda: settled(fault_rabbitmq, url), timeout=60)
    counted = await session_counts(fault_env["DATABASE_URL"], str(event.session_id))
    report(
        f"same-event-three-times: published 3 copies; session counters "
        f"(searches, events) after all three were handled: {counted}"
    )
    assert counted == (1, 1)  # the primary key keeps one row; the counters must follow
    assert counts.lost == 0
    assert counts.duplicated == 0


async def test_crash_after_commit_before_ack_changes_nothing(
    fault_env: dict[str, str], fault_rabbitmq: RabbitNode, services: ServiceGroup
):
    url, database_url = fault_env["RABBITMQ_URL"], fault_env["DATABASE_URL"]
    events = search_events(500)
    ledger = Ledger()
    await publish_all(url, events, ledger)
    crashing = services.start(
        "session-logger",
        fault_env | {"LECTERN_FAILPOINTS": "session-logger.after-commit", "BATCH_SIZE": "100"},
        label="session-logger-crashing",
    )
    await asyncio.to_thread(wait_until, lambda: not crashing.running, timeout=120)
    assert crashing.returncode == CRASH_EXIT_CODE
    committed = len(await stored_event_ids(database_url))
    still_queued = await queue_depth(url, topology.SESSION_LOGGER_EVENTS_QUEUE)
    report(
        f"crash-after-commit: {committed} rows committed, {still_queued} of {len(events)} "
        f"messages still in the queue (committed but never acknowledged: "
        f"{committed + still_queued - len(events)})"
    )
    assert committed > 0
    assert committed + still_queued > len(events)  # the window was hit
    await _start_logger(services, fault_env)
    stored = await wait_stored(database_url, len(events), timeout=120)
    counts = count_outcomes(
        "crash-after-commit", sent=ledger.sent, confirmed=ledger.confirmed, stored=stored
    )
    assert counts.ok
    assert counts.duplicated == 0
    assert len(stored) == len(events)
    await asyncio.to_thread(wait_until, lambda: settled(fault_rabbitmq, url), timeout=60)
    counted = await session_counts(database_url)
    report(f"crash-after-commit: session counters after the redelivery {counted}")
    assert counted == (len(events), len(events))  # redelivered rows did not count twice


async def test_poison_message_is_dead_lettered_after_the_delivery_limit(
    fault_env: dict[str, str], fault_rabbitmq: RabbitNode, services: ServiceGroup
):
    url, database_url = fault_env["RABBITMQ_URL"], fault_env["DATABASE_URL"]
    before, after = search_events(100), search_events(100)
    poison = search_events(1, session_id="poison")[0]
    env = fault_env | {"LECTERN_FAILPOINTS": f"session-logger.poison={poison.event_id}"}
    await _start_logger(services, env)
    ledger = Ledger()
    await publish_all(url, [*before, poison, *after], ledger)
    dlq = topology.dlq_name(topology.SESSION_LOGGER_EVENTS_QUEUE)
    stored = await wait_stored(database_url, len(before) + len(after), timeout=120)
    await asyncio.to_thread(wait_until, lambda: asyncio.run(queue_depth(url, dlq)) >= 1, timeout=60)
    dead = await drain(url, dlq)
    dead_ids = [message.message_id for message in dead]
    deaths = (dead[0].headers or {}).get("x-death") or []
    reason = deaths[0].get("reason") if deaths else None
    delivery_count = (dead[0].headers or {}).get("x-delivery-count")
    counts = count_outcomes(
        "poison-message",
        sent=ledger.sent,
        confirmed=ledger.confirmed,
        stored=[*stored, *dead_ids],
    )
    report(
        f"poison-message: dead-lettered {dead_ids} reason={reason} "
        f"deliveries={delivery_count}; {len(stored)} other events stored"
    )
    assert dead_ids == [str(poison.event_id)]
    assert reason == "delivery_limit"
    assert str(poison.event_id) not in stored
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert services.processes["session-logger"].running
    await asyncio.to_thread(wait_until, lambda: settled(fault_rabbitmq, url), timeout=60)
    assert await session_counts(database_url) == (len(before) + len(after),) * 2
    assert await session_counts(database_url, "poison") == (0, 0)


async def test_sigterm_finishes_and_acknowledges_what_it_holds(
    fault_env: dict[str, str], fault_rabbitmq: RabbitNode, services: ServiceGroup
):
    url, database_url = fault_env["RABBITMQ_URL"], fault_env["DATABASE_URL"]
    events = search_events(3000)
    ledger = Ledger()
    await publish_all(url, events, ledger, window=200)
    logger = services.start("session-logger", fault_env | {"BATCH_SIZE": "200"})
    await asyncio.to_thread(
        wait_until,
        lambda: len(asyncio.run(stored_event_ids(database_url))) >= 400,
        timeout=120,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await asyncio.to_thread(logger.terminate, 30)
    took = loop.time() - started
    committed = len(await stored_event_ids(database_url))
    queued = await queue_depth(url, topology.SESSION_LOGGER_EVENTS_QUEUE)
    report(
        f"sigterm: exit {code} after {took:.2f} s (grace {fault_env['SHUTDOWN_GRACE_S']} s); "
        f"{committed} stored + {queued} still queued = {committed + queued} of {len(events)}"
    )
    assert code == 0  # it exited by itself (terminate() SIGKILLs after 30 s)
    assert committed + queued == len(events)  # every stored event was acknowledged
    await asyncio.to_thread(logger.start)
    stored = await wait_stored(database_url, len(events), timeout=120)
    counts = count_outcomes(
        "sigterm-session-logger", sent=ledger.sent, confirmed=ledger.confirmed, stored=stored
    )
    assert counts.ok
    assert counts.duplicated == 0
    await asyncio.to_thread(wait_until, lambda: settled(fault_rabbitmq, url), timeout=60)
    assert await session_counts(database_url) == (len(events), len(events))
