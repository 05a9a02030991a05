"""The consumers' metrics plumbing against a real RabbitMQ: port, queue depths, hiccups."""

from __future__ import annotations

import socket

import aio_pika
import httpx
import pytest
from prometheus_client import REGISTRY
from tests.faults.harness import free_port

from lectern.metrics_server import MetricsServer, QueueDepthSampler, ServiceMetrics

pytestmark = pytest.mark.integration


def _sample(name: str, queue: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"queue": queue})


def _failures(queue: str) -> float:
    return _sample("lectern_queue_depth_sample_failures_total", queue) or 0.0


async def test_sampler_reads_depths_and_survives_a_missing_queue(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue("metrics-test.work", durable=True)
        for n in range(3):
            await channel.default_exchange.publish(
                aio_pika.Message(str(n).encode()), routing_key=queue.name
            )
        missing_before = _failures("metrics-test.missing")
        sampler = QueueDepthSampler(amqp_url, ["metrics-test.missing", queue.name])
        try:
            await sampler.sample()
        finally:
            await sampler.stop()
        assert _sample("lectern_queue_messages_ready", queue.name) == 3
        assert _sample("lectern_queue_consumers", queue.name) == 0
        assert _failures("metrics-test.missing") == missing_before + 1
        assert _failures(queue.name) == 0


async def test_sampler_counts_an_unreachable_broker_and_does_not_raise() -> None:
    with socket.socket() as closed:  # a port nobody listens on: bound, never listening
        closed.bind(("127.0.0.1", 0))
        url = f"amqp://guest:guest@127.0.0.1:{closed.getsockname()[1]}/"
        before = _failures("metrics-test.away")
        sampler = QueueDepthSampler(url, ["metrics-test.away"], interval_s=0.1)
        await sampler.sample()
        await sampler.stop()
    assert _failures("metrics-test.away") == before + 1


async def test_metrics_port_serves_the_registry_and_is_released(amqp_url: str) -> None:
    port = free_port()
    metrics = ServiceMetrics(port, "127.0.0.1", amqp_url, [], interval_s=60)
    await metrics.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 200
        assert "# TYPE lectern_queue_messages_ready gauge" in response.text
    finally:
        await metrics.stop()
    again = MetricsServer(port, "127.0.0.1")  # the port is free again
    again.start()
    again.stop()


async def test_no_port_serves_nothing(amqp_url: str) -> None:
    metrics = ServiceMetrics(None, "127.0.0.1", amqp_url, ["x"], interval_s=60)
    await metrics.start()
    await metrics.stop()
    assert metrics.server is None
    assert metrics.sampler is None
