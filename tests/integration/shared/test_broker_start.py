"""``lectern.broker_start``: replicas that start together all start, on real RabbitMQ.

Several brokers declaring and consuming the same fresh single-active-consumer quorum
queues at once is how two indexer replicas start. RabbitMQ answers some of those
``basic.consume`` calls before the queue's Raft member runs and closes the connection
(541 ``INTERNAL_ERROR``): on this machine about two rounds in five of the round below
break a plain ``RabbitBroker.start``, so eight rounds fail without the retry almost
always (the CI failure of the two-replica fault test was this).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.parse
import uuid
from collections import Counter

import aiormq.exceptions
import pytest
from faststream.rabbit import Channel, QueueType, RabbitBroker, RabbitQueue
from structlog.testing import capture_logs

from lectern.broker import create_broker

ROUNDS = 8
REPLICAS = 3
QUEUES = 8


def _replica(url: str, queue_names: list[str]) -> RabbitBroker:
    broker = create_broker(url)
    for name in queue_names:
        queue = RabbitQueue(
            name,
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments={"x-single-active-consumer": True},
        )

        @broker.subscriber(queue, channel=Channel(prefetch_count=4))
        async def handle(body: bytes) -> None:
            del body

    return broker


def _consumer_counts(url: str, queue_names: list[str]) -> list[int]:
    """Consumers per queue as the broker lists them (declare-ok counts only the active one)."""
    vhost = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/")) or "/"
    listed = subprocess.run(
        ["rabbitmqctl", "list_consumers", "--vhost", vhost, "--formatter", "json", "queue_name"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    consumers = Counter(row["queue_name"] for row in json.loads(listed.stdout))
    return [consumers[name] for name in queue_names]


async def test_replicas_starting_together_on_fresh_quorum_queues_all_start(
    amqp_url: str,
) -> None:
    retries = 0
    for _ in range(ROUNDS):
        names = [f"start-race.{uuid.uuid4().hex[:8]}.{n}" for n in range(QUEUES)]
        replicas = [_replica(amqp_url, names) for _ in range(REPLICAS)]
        try:
            with capture_logs() as logs:
                await asyncio.gather(*(replica.start() for replica in replicas))
            retries += sum(1 for line in logs if line["event"] == "broker.start_retry")
            # every replica consumes every queue (one of them is the active consumer)
            assert await asyncio.to_thread(_consumer_counts, amqp_url, names) == [REPLICAS] * QUEUES
        finally:
            for replica in replicas:
                await replica.stop()
    print(f"{ROUNDS} rounds of {REPLICAS} replicas x {QUEUES} queues: {retries} retried starts")


async def test_a_refused_declaration_is_not_retried(amqp_url: str) -> None:
    name = f"start-refused.{uuid.uuid4().hex[:8]}"
    classic = create_broker(amqp_url)
    await classic.connect()
    await classic.declare_queue(RabbitQueue(name, durable=True))
    await classic.stop()

    replica = _replica(amqp_url, [name])  # the same name as a quorum queue: 406
    try:
        with capture_logs() as logs, pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await replica.start()
    finally:
        await replica.stop()
    assert [line for line in logs if line["event"] == "broker.start_retry"] == []
