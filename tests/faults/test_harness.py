"""Self-test of the fault harness: the private servers survive kills with their data."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from urllib.parse import urlsplit

import aio_pika
import pytest

from lectern import topology
from tests.faults.harness import (
    RA_DIRECTORY_SAVE_S,
    Counts,
    PostgresCluster,
    RabbitNode,
    ServiceGroup,
    count_outcomes,
)

pytestmark = pytest.mark.faults

PRE_KILL_MESSAGES = 200
"""Messages published and confirmed before the kill."""


async def _publish_confirmed(
    channel: aio_pika.abc.AbstractChannel,
    queue: str,
    ids: list[str],
    sent: list[str],
    confirmed: list[str],
) -> None:
    """Publish ``ids`` concurrently (confirms on), recording what was sent and confirmed."""

    async def one(message_id: str) -> None:
        sent.append(message_id)
        await channel.default_exchange.publish(
            aio_pika.Message(
                message_id.encode(),
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=queue,
            mandatory=True,
            timeout=10,
        )
        confirmed.append(message_id)

    await asyncio.gather(*(one(i) for i in ids))


async def _publish_until_failure(
    channel: aio_pika.abc.AbstractChannel, queue: str, sent: list[str], confirmed: list[str]
) -> None:
    """Publish in windows of 20 until the connection breaks (the node is killed)."""
    n = 0
    with contextlib.suppress(Exception):
        while True:
            ids = [f"during-{n + k}" for k in range(20)]
            n += 20
            await _publish_confirmed(channel, queue, ids, sent, confirmed)


async def _drain(url: str, queue: str) -> list[str]:
    """Get every message of ``queue`` (acknowledged), returning their ids."""
    stored: list[str] = []
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        while (message := await declared.get(fail=False, timeout=10)) is not None:
            stored.append(message.body.decode())
            await message.ack()
    return stored


async def test_confirmed_quorum_messages_survive_kill_9(
    fault_rabbitmq: RabbitNode, fault_amqp_url: str
) -> None:
    queue = "selftest.quorum"
    sent: list[str] = []
    confirmed: list[str] = []
    connection = await aio_pika.connect(fault_amqp_url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        # RabbitMQ 3.10 (Ra 2.2) saves a new quorum queue's Ra registration to disk up
        # to RA_DIRECTORY_SAVE_S later: a SIGKILL inside that window leaves the queue
        # leaderless for good. Crash the node after it, as a real deployment would.
        await asyncio.sleep(2 * RA_DIRECTORY_SAVE_S)
        ids = [f"before-{n}" for n in range(PRE_KILL_MESSAGES)]
        await _publish_confirmed(channel, queue, ids, sent, confirmed)
        assert len(confirmed) == PRE_KILL_MESSAGES

        # Keep publishing while the node is SIGKILLed: some publishes are in flight.
        publisher = asyncio.create_task(_publish_until_failure(channel, queue, sent, confirmed))
        await asyncio.sleep(0.5)
        beam = fault_rabbitmq.pid
        assert beam is not None
        assert int(fault_rabbitmq.pid_file.read_text()) == beam
        await asyncio.to_thread(fault_rabbitmq.kill)
        await asyncio.wait_for(publisher, timeout=30)
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
    assert fault_rabbitmq.pid is None

    await asyncio.to_thread(fault_rabbitmq.start)
    assert fault_rabbitmq.pid not in (None, beam)
    stored = await _drain(fault_amqp_url, queue)

    counts = count_outcomes(
        "harness-rabbitmq-kill-9", sent=sent, confirmed=confirmed, stored=stored
    )
    assert isinstance(counts, Counts)
    assert counts.confirmed > PRE_KILL_MESSAGES, "nothing was confirmed during the kill phase"
    assert counts.ok, counts.lost_ids
    assert counts.duplicated == 0


async def test_at_least_once_dead_lettering_is_active(
    fault_rabbitmq: RabbitNode, fault_amqp_url: str
) -> None:
    """Lectern's quorum work-queue arguments dead-letter at-least-once on this node."""
    fault_rabbitmq.check_feature_flags()
    work = topology.quorum_work_queue("selftest.work", "#")
    dlq = topology.dead_letter_queue("selftest.work")
    connection = await aio_pika.connect(fault_amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        dlx = await channel.declare_exchange(
            topology.DLX_NAME, aio_pika.ExchangeType.TOPIC, durable=True
        )
        dead = await channel.declare_queue(dlq.name, durable=True, arguments=dlq.arguments)
        await dead.bind(dlx, routing_key="selftest.work")
        source = await channel.declare_queue(work.name, durable=True, arguments=work.arguments)
        ids = [f"dead-{n}" for n in range(10)]
        await _publish_confirmed(channel, work.name, ids, [], [])
        for _ in ids:
            message = await source.get(timeout=10)
            await message.reject(requeue=False)

    # at-most-once has no worker: only at-least-once starts a rabbit_fifo_dlx_worker.
    workers = fault_rabbitmq.ctl("eval", "supervisor:which_children(rabbit_fifo_dlx_sup).")
    assert "rabbit_fifo_dlx_worker" in workers
    vhost = urlsplit(fault_amqp_url).path.lstrip("/")
    for _ in range(50):
        if fault_rabbitmq.list_queues(vhost).get(dlq.name, {}).get("messages") == len(ids):
            break
        await asyncio.sleep(0.2)
    stored = await _drain(fault_amqp_url, dlq.name)
    counts = count_outcomes("harness-dead-letter", sent=ids, confirmed=ids, stored=stored)
    assert counts.ok
    assert counts.stored == len(ids)


@pytest.mark.parametrize("how", ["fast", "immediate", "kill"])
def test_postgres_keeps_committed_rows_across_restart(
    fault_postgres: PostgresCluster, fault_database_url: str, how: str
) -> None:
    database = urlsplit(fault_database_url).path.lstrip("/")
    fault_postgres.psql("CREATE TABLE selftest (id text PRIMARY KEY)", database)
    ids = [f"row-{n}" for n in range(500)]
    values = ",".join(f"('{i}')" for i in ids)
    fault_postgres.psql(f"INSERT INTO selftest VALUES {values}", database)
    postmaster = fault_postgres.pid

    fault_postgres.restart(mode=how)  # type: ignore[arg-type]

    assert fault_postgres.pid not in (None, postmaster)
    stored = fault_postgres.psql("SELECT id FROM selftest", database).split()
    counts = count_outcomes(f"harness-postgres-{how}", sent=ids, confirmed=ids, stored=stored)
    assert counts.ok
    assert counts.stored == len(ids)


def test_counts_line() -> None:
    counts = count_outcomes(
        "example", sent=["a", "b", "c", "d"], confirmed=["a", "b"], stored=["a", "c", "c", "x"]
    )
    assert counts.line == (
        "scenario=example sent=4 confirmed=2 stored=3 lost=1 duplicated=1 unexpected=1 recovered=1"
    )
    assert not counts.ok
    assert counts.lost_ids == ("b",)


def test_service_process_kill_and_restart(
    fault_env: dict[str, str], services: ServiceGroup
) -> None:
    gateway = services.start("gateway", fault_env)
    gateway.wait_http_ok("/health/live", timeout=60)
    first = gateway.pid

    assert gateway.kill() == -signal.SIGKILL
    assert not gateway.running
    gateway.restart()
    gateway.wait_http_ok("/health/live", timeout=60)
    assert gateway.pid not in (None, first)
    assert gateway.starts == 2

    # uvicorn drains, then re-raises the SIGTERM it caught: -15 is a clean exit here.
    assert gateway.terminate() in (0, -signal.SIGTERM)
    assert "=== harness: start #2 of gateway ===" in gateway.log_path.read_text()
