"""Every service's ``/metrics`` moves with real traffic (services as processes).

One small real document is ingested, searched and its status read; one unreadable
command and one unreadable event are published straight to the broker, so each consumer
dead-letters one message. The test scrapes the gateway's ``/metrics`` and the indexer's
and session-logger's ``METRICS_PORT`` before and after, and checks that each series the
operator docs list changed by what that traffic implies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lectern import topology
from tests.conftest import GAZEBO_CORPUS
from tests.e2e.conftest import Stack, running_stack
from tests.faults.harness import free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOCUMENT = "common/fuel/data_privacy_policy.md"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a Prometheus text endpoint, keyed by name and label set."""
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, prefix: str = "", **labels: str) -> float:
    """Sum of the ``name`` samples whose labels include ``labels`` (``handler`` by prefix)."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name
        and wanted <= sample_labels
        and dict(sample_labels).get("handler", "").startswith(prefix)
    )


EXCERPT = (
    "lectern_gateway_rpc_duration_seconds_count",
    "lectern_indexer_received_processed_messages_total",
    "lectern_indexer_ingest_lag_seconds_sum",
    "lectern_indexer_embedding_batch_size_sum",
    "lectern_indexer_qdrant_request_duration_seconds_count",
    "lectern_session_logger_events_persisted_total",
    "lectern_session_logger_received_processed_messages_total",
    "lectern_queue_messages_ready",
)


def _print_excerpt(scraped: dict[str, Samples]) -> None:
    """Print the main series after the traffic (``pytest -s`` shows them)."""
    for where, samples in scraped.items():
        for (name, labels), value in sorted(samples.items(), key=lambda item: str(item[0])):
            if name in EXCERPT:
                shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels) if k != "app_name")
                print(f"{where}: {name}{{{shown}}} {value:g}")


@pytest.fixture
def metered(tmp_path: Path) -> Iterator[tuple[Stack, dict[str, str]]]:
    """The three services, the indexer and session-logger each on a metrics port.

    Yields:
        The stack and the ``/metrics`` URL of each service by name.
    """
    ports = {"indexer": free_port(), "session-logger": free_port()}
    per_service = {
        name: {"METRICS_PORT": str(port), "QUEUE_DEPTH_INTERVAL_S": "0.5"}
        for name, port in ports.items()
    }
    with running_stack(tmp_path, per_service) as stack:
        urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
        yield stack, {**urls, "gateway": f"{stack.base_url}/metrics"}


async def _publish_unreadable(amqp_url: str) -> None:
    """One command the indexer and one event the session-logger can never read."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        commands = await channel.get_exchange(topology.COMMANDS_EXCHANGE_NAME)
        await commands.publish(
            aio_pika.Message(b"{not json", headers={topology.DOCUMENT_KEY_HEADER: "bad-doc"}),
            routing_key="document.ingest",
            mandatory=True,
        )
        events = await channel.get_exchange(topology.EVENTS_EXCHANGE_NAME)
        await events.publish(
            aio_pika.Message(b"{not json"), routing_key="document.accepted", mandatory=True
        )


def _ingest_and_search(client: httpx.Client) -> None:
    path = GAZEBO_CORPUS / DOCUMENT
    response = client.post(
        "/v1/documents",
        json={
            "document_id": DOCUMENT,
            "title": "Data and Privacy Policy",
            "source": f"gazebo-docs/{DOCUMENT}",
            "format": "markdown",
            "content": path.read_text(encoding="utf-8"),
        },
    )
    assert response.status_code == 202, response.text

    def indexed() -> bool:
        status = client.get(f"/v1/documents/{DOCUMENT}")
        return status.status_code == 200 and status.json()["status"] == "indexed"

    wait_until(indexed, timeout=180, interval=0.5, message="document indexed")
    search = client.post("/v1/search", json={"query": "what data does Fuel collect?"})
    assert search.status_code == 200, search.text
    assert search.json()["hits"], search.json()


def test_metrics_move_with_traffic(metered: tuple[Stack, dict[str, str]]) -> None:
    stack, urls = metered
    gateway_url, indexer_url, logger_url = (
        urls["gateway"],
        urls["indexer"],
        urls["session-logger"],
    )
    dlq_ready = "lectern_queue_messages_ready"
    events_dlq = topology.dlq_name(topology.SESSION_LOGGER_EVENTS_QUEUE)
    # The samplers have seen every queue (empty DLQs) before the traffic starts.
    wait_until(
        lambda: (dlq_ready, frozenset({("queue", events_dlq)})) in scrape(logger_url),
        timeout=30,
        message="session-logger queue depths sampled",
    )
    wait_until(
        lambda: total(scrape(indexer_url), "lectern_queue_consumers", queue="indexer.rpc") >= 1,
        timeout=30,
        message="indexer queue depths sampled",
    )
    before = {"gateway": scrape(gateway_url), "indexer": scrape(indexer_url)}
    before["logger"] = scrape(logger_url)

    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        _ingest_and_search(client)
    asyncio.run(_publish_unreadable(stack.env["RABBITMQ_URL"]))

    def logger_settled() -> bool:
        now = scrape(logger_url)
        persisted = "lectern_session_logger_events_persisted_total"
        kinds = ("document.accepted", "document.indexed", "search.completed", "document.failed")
        return (
            all(
                total(now, persisted, event_type=k)
                > total(before["logger"], persisted, event_type=k)
                for k in kinds
            )
            and total(now, dlq_ready, queue=events_dlq) == 1
        )

    wait_until(logger_settled, timeout=60, interval=0.5, message="events persisted")
    shard_dlqs = [topology.dlq_name(q.name) for q in topology.indexer_shard_queues()]
    wait_until(
        lambda: sum(total(scrape(indexer_url), dlq_ready, queue=q) for q in shard_dlqs) == 1,
        timeout=30,
        message="indexer DLQ depth sampled",
    )
    after = {"gateway": scrape(gateway_url), "indexer": scrape(indexer_url)}
    after["logger"] = scrape(logger_url)

    _print_excerpt(after)

    def moved(where: str, name: str, prefix: str = "", **labels: str) -> float:
        return total(after[where], name, prefix, **labels) - total(
            before[where], name, prefix, **labels
        )

    rpc_count = "lectern_gateway_rpc_duration_seconds_count"
    assert moved("gateway", rpc_count, service="indexer", operation="search", outcome="ok") == 1
    assert moved("gateway", rpc_count, service="session-logger", operation="document_status") >= 1
    assert moved("gateway", "lectern_gateway_requests_total") >= 3

    commands = topology.INDEXER_COMMANDS_QUEUE + "."
    assert moved("indexer", "lectern_indexer_received_messages_total", commands) == 2
    processed = "lectern_indexer_received_processed_messages_total"
    assert moved("indexer", processed, commands, status="acked") == 1
    assert moved("indexer", processed, commands, status="rejected") == 1
    handler_seconds = "lectern_indexer_received_processed_messages_duration_seconds_count"
    assert moved("indexer", handler_seconds, "indexer.rpc") == 1
    assert moved("indexer", "lectern_indexer_dead_lettered_total") == 1
    assert moved("indexer", "lectern_indexer_commands_total", outcome="indexed") == 1
    batch = "lectern_indexer_embedding_batch_duration_seconds_count"
    assert moved("indexer", batch, worker="documents") >= 1
    assert moved("indexer", batch, worker="queries") == 1
    assert moved("indexer", "lectern_indexer_embedding_batch_size_sum", worker="documents") >= 1
    qdrant = "lectern_indexer_qdrant_request_duration_seconds_count"
    assert moved("indexer", qdrant, operation="upsert", outcome="ok") >= 1
    assert moved("indexer", qdrant, operation="search", outcome="ok") == 1
    assert moved("indexer", "lectern_indexer_ingest_lag_seconds_count") == 1
    assert moved("indexer", "lectern_indexer_ingest_lag_seconds_sum") > 0

    events = topology.SESSION_LOGGER_EVENTS_QUEUE
    logger_processed = "lectern_session_logger_received_processed_messages_total"
    assert moved("logger", "lectern_session_logger_received_messages_total", events) >= 5
    assert moved("logger", logger_processed, events, status="acked") >= 4
    assert moved("logger", logger_processed, events, status="rejected") == 1
    assert moved("logger", logger_processed, topology.SESSION_LOGGER_RPC_QUEUE) >= 1
    dead_lettered = "lectern_session_logger_dead_lettered_events_total"
    assert moved("logger", dead_lettered, cause="invalid") == 1
    assert moved("logger", "lectern_session_logger_batch_size_count") >= 1
    assert moved("logger", "lectern_session_logger_batch_size_sum") >= 4
    write = "lectern_session_logger_postgres_write_duration_seconds_count"
    assert moved("logger", write, outcome="ok") >= 1
