"""A service that is not ours publishes with pika (examples/producers/producer.py).

Everything goes through the broker as a producer would send it, and is read back as a
producer would read it: over HTTP (document status, search, session history).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pika
import pytest
from examples.producers import producer
from tests.conftest import GAZEBO_CORPUS, REPO_ROOT
from tests.e2e.conftest import Stack
from tests.faults.harness import wait_until
from tests.integration.producers.conftest import queue_depth, sql, wait_json

from lectern import topology

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INSTALL_DOC = "jetty/install_ubuntu.md"


def _indexed_events(stack: Stack, document_id: str) -> list[dict[str, Any]]:
    rows = sql(
        stack,
        "SELECT payload FROM events WHERE event_type = 'document.indexed' "
        f"AND document_id = '{document_id}' ORDER BY occurred_at",
    )
    return [json.loads(row) for row in rows]


def test_ingest_command_is_indexed_searchable_and_idempotent(
    lectern: Stack, channel: Any, http: httpx.Client
):
    document_id = f"pika/{uuid.uuid4().hex[:8]}/{INSTALL_DOC}"
    content = (GAZEBO_CORPUS / INSTALL_DOC).read_text(encoding="utf-8")
    fields: dict[str, Any] = {
        "title": "Binary Installation on Ubuntu",
        "source": "https://gazebosim.org/docs/jetty/install_ubuntu",
        "metadata": {"site": "gazebo"},
    }
    sent = producer.ingest(channel, document_id, content=content, **fields)

    status = wait_json(
        http,
        f"/v1/documents/{document_id}",
        lambda body: body["status"] == "indexed",
        stack=lectern,
        timeout=300,
    )
    assert status["version"] == sent["version"]
    assert status["chunk_count"] > 0
    hits = http.post(
        "/v1/search",
        json={
            "query": "install Gazebo on Ubuntu with apt",
            "top_k": 3,
            "filter": {"document_ids": [document_id]},
        },
    ).json()["hits"]
    assert hits, "the producer's document is not searchable"
    assert hits[0]["document_id"] == document_id
    assert hits[0]["metadata"]["site"] == "gazebo"

    # The same document again (a new command, a new event_id): a no-op.
    producer.ingest(channel, document_id, content=content, **fields)
    wait_until(
        lambda: len(_indexed_events(lectern, document_id)) == 2, timeout=120, message="re-ingest"
    )
    first, second = _indexed_events(lectern, document_id)
    assert (first["unchanged"], second["unchanged"]) == (False, True)
    assert second["chunk_count"] == first["chunk_count"] == status["chunk_count"]


def test_delete_command_removes_the_document(lectern: Stack, channel: Any, http: httpx.Client):
    document_id = f"pika/{uuid.uuid4().hex[:8]}/note.txt"
    text = "Lectern producers publish commands to lectern.commands with pika."
    producer.ingest(channel, document_id, "A note", text, document_format="text")
    wait_json(
        http, f"/v1/documents/{document_id}", lambda b: b["status"] == "indexed", stack=lectern
    )

    producer.delete(channel, document_id, correlation_id="docs-ci-run-2")
    wait_json(
        http, f"/v1/documents/{document_id}", lambda b: b["status"] == "deleted", stack=lectern
    )
    hits = http.post(
        "/v1/search",
        json={"query": "producers publish commands", "filter": {"document_ids": [document_id]}},
    ).json()["hits"]
    assert hits == []


def test_foreign_event_lands_in_its_session_history(
    lectern: Stack, channel: Any, http: httpx.Client, session_id: str
):
    search = http.post("/v1/search", json={"query": "gazebo sensors", "session_id": session_id})
    assert search.status_code == 200, search.text
    sent = producer.make_event(
        "support.ticket.closed",
        session_id=session_id,
        ticket_id="T-42",
        resolution="answered from the docs",
    )
    producer.publish_event(channel, sent)

    history = wait_json(
        http,
        f"/v1/sessions/{session_id}",
        lambda body: body["event_count"] == 2,
        stack=lectern,
    )
    print(json.dumps(history, indent=2))
    types = [i["event_type"] for i in history["interactions"]]
    assert types == ["search.completed", "support.ticket.closed"]
    ticket = history["interactions"][1]
    assert ticket["event_id"] == sent["event_id"]
    assert ticket["payload"] == {"ticket_id": "T-42", "resolution": "answered from the docs"}
    assert history["search_count"] == 1
    assert sql(lectern, f"SELECT event_type FROM events WHERE event_id = '{sent['event_id']}'") == [
        "support.ticket.closed"
    ]


def test_the_command_line_publishes_an_event(
    lectern: Stack, stack_amqp_url: str, http: httpx.Client, session_id: str
):
    script = REPO_ROOT / "examples" / "producers" / "producer.py"
    fields = ["--session", session_id, "-f", "ticket_id=T-5", "-f", "note=a=b"]
    done = subprocess.run(
        [sys.executable, str(script), "--url", stack_amqp_url, "event", "support.cli", *fields],
        capture_output=True,
        text=True,
        check=True,
    )
    event_id = json.loads(done.stdout)["event_id"]
    history = wait_json(
        http, f"/v1/sessions/{session_id}", lambda b: b["event_count"] == 1, stack=lectern
    )
    (interaction,) = history["interactions"]
    assert (interaction["event_id"], interaction["event_type"]) == (event_id, "support.cli")
    assert interaction["payload"] == {"ticket_id": "T-5", "note": "a=b"}


def test_same_event_three_times_is_stored_once(
    lectern: Stack, channel: Any, http: httpx.Client, session_id: str
):
    event = producer.make_event("support.ticket.closed", session_id=session_id, n="1")
    event_id = event["event_id"]
    for _ in range(3):
        producer.publish_event(channel, event)
    # Acked means committed: once the queue is empty, all three deliveries were stored.
    wait_until(
        lambda: queue_depth(lectern, topology.SESSION_LOGGER_EVENTS_QUEUE) == 0,
        timeout=60,
        message="session-logger.events drained",
    )
    assert sql(lectern, f"SELECT count(*) FROM events WHERE event_id = '{event_id}'") == ["1"]
    history = http.get(f"/v1/sessions/{session_id}").json()
    assert history["event_count"] == 1
    assert [i["event_id"] for i in history["interactions"]] == [event_id]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="the event log's unique key is (event_id, occurred_at) (a partitioned table's "
    "unique keys must hold the partition key): the same event_id with another occurred_at "
    "is stored again",
)
def test_same_event_id_with_another_occurred_at_is_stored_once(lectern: Stack, channel: Any):
    event = producer.make_event("support.ticket.closed", ticket_id="T-8")
    producer.publish_event(channel, event)
    producer.publish_event(channel, {**event, "occurred_at": producer.envelope()["occurred_at"]})
    wait_until(
        lambda: queue_depth(lectern, topology.SESSION_LOGGER_EVENTS_QUEUE) == 0,
        timeout=60,
        message="session-logger.events drained",
    )
    count = sql(lectern, f"SELECT count(*) FROM events WHERE event_id = '{event['event_id']}'")
    assert count == ["1"]


def _get_one(channel: Any, *queues: str) -> tuple[Any, bytes]:
    """Take the first message that appears in any of ``queues``."""
    found: dict[str, Any] = {}

    def got() -> bool:
        for queue in queues:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is not None:
                found.update(properties=properties, body=body)
                return True
        return False

    wait_until(got, timeout=60, message=f"a message in {', '.join(queues)}")
    return found["properties"], found["body"]


def test_malformed_event_is_dead_lettered_with_a_reason(channel: Any):
    body = json.dumps({"event_type": "support.ticket.closed", "ticket_id": "T-7"})
    channel.basic_publish(
        exchange=producer.EVENTS_EXCHANGE,
        routing_key="support.ticket.closed",
        body=body.encode(),
        properties=pika.BasicProperties(content_type="application/json", delivery_mode=2),
        mandatory=True,
    )
    properties, dead = _get_one(channel, topology.dlq_name(topology.SESSION_LOGGER_EVENTS_QUEUE))
    assert json.loads(dead) == json.loads(body)
    reason = properties.headers[topology.DEAD_LETTER_REASON_HEADER]
    assert "event_id" in reason
    assert "occurred_at" in reason


def test_invalid_ingest_is_dead_lettered_and_reported(
    lectern: Stack, channel: Any, http: httpx.Client
):
    document_id = f"pika/{uuid.uuid4().hex[:8]}/bad.md"
    command = {
        **producer.envelope(),
        "document_id": document_id,
        "version": "0" * 64,  # not the sha256 of the content
        "title": "Bad",
        "format": "markdown",
        "content": "# Bad\n\nthe version does not match",
    }
    producer.publish(channel, producer.COMMANDS_EXCHANGE, "document.ingest", command)

    status = wait_json(
        http, f"/v1/documents/{document_id}", lambda b: b["status"] == "failed", stack=lectern
    )
    assert "does not match" in status["failure_reason"]
    shard_dlqs = [
        topology.dlq_name(topology.indexer_shard_queue_name(n))
        for n in range(topology.DEFAULT_INDEXER_SHARDS)
    ]
    properties, dead = _get_one(channel, *shard_dlqs)
    assert json.loads(dead)["event_id"] == command["event_id"]
    assert properties.headers["x-death"][0]["reason"] == "rejected"


def test_unroutable_publish_raises(channel: Any):
    with pytest.raises(pika.exceptions.UnroutableError):
        producer.publish(
            channel, producer.COMMANDS_EXCHANGE, "report.generate", producer.envelope()
        )
