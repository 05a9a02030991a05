"""RPC latency and timeouts by target, recorded at the gateway's one RPC seam (real broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest
from prometheus_client import REGISTRY

from lectern import topology
from lectern.broker import create_broker
from lectern.contracts import SearchRequest, SearchResponse
from lectern.reads import DocumentStatusRequest, DocumentStatusResponse
from lectern.rpc import RpcClient
from lectern_gateway.backends import Backends
from lectern_gateway.errors import ServiceUnavailableError, UpstreamTimeoutError
from lectern_gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def backends(amqp_url: str) -> AsyncIterator[Backends]:
    rpc = RpcClient(amqp_url, name="rpc-metrics-test")
    await rpc.connect()
    settings = GatewaySettings(rabbitmq_url=amqp_url)  # type: ignore[arg-type]
    yield Backends(settings, create_broker(amqp_url), rpc)
    await rpc.close()


async def test_a_request_nobody_answers_counts_as_a_timeout(
    amqp_url: str, backends: Backends
) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.INDEXER_RPC_QUEUE, durable=True)

        async def swallow(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await message.ack()  # takes the request, never replies

        await queue.consume(swallow)
        labels = {"service": "indexer", "operation": "search"}
        timeouts = _value("lectern_gateway_rpc_timeouts_total", **labels)
        timed = _value("lectern_gateway_rpc_duration_seconds_count", **labels, outcome="timeout")
        with pytest.raises(UpstreamTimeoutError):
            await backends.call("indexer", SearchRequest(query="q"), SearchResponse, timeout=0.3)
    assert _value("lectern_gateway_rpc_timeouts_total", **labels) == timeouts + 1
    count = _value("lectern_gateway_rpc_duration_seconds_count", **labels, outcome="timeout")
    assert count == timed + 1
    assert _value("lectern_gateway_rpc_duration_seconds_sum", **labels, outcome="timeout") >= 0.3


async def test_an_absent_service_is_no_consumer_not_a_timeout(backends: Backends) -> None:
    labels = {"service": "session-logger", "operation": "document_status"}
    timeouts = _value("lectern_gateway_rpc_timeouts_total", **labels)
    absent = _value("lectern_gateway_rpc_duration_seconds_count", **labels, outcome="no_consumer")
    with pytest.raises(ServiceUnavailableError):
        await backends.call(
            "session-logger",
            DocumentStatusRequest(document_id="d"),
            DocumentStatusResponse,
            timeout=1.0,
        )
    assert _value("lectern_gateway_rpc_timeouts_total", **labels) == timeouts
    count = _value("lectern_gateway_rpc_duration_seconds_count", **labels, outcome="no_consumer")
    assert count == absent + 1
