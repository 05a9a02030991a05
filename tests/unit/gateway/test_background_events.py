"""The background event publisher with a fake publish at its adapter seam (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from tests.unit.gateway.test_api import FakeBackends

from lectern.contracts import Event, SearchCompleted, SearchResponse
from lectern_gateway.app import create_app
from lectern_gateway.background_events import BackgroundEventPublisher
from lectern_gateway.errors import ServiceUnavailableError
from lectern_gateway.settings import GatewaySettings


def _event() -> SearchCompleted:
    return SearchCompleted(query="q", mode="hybrid", top_k=1, hit_count=0, latency_ms=1.0)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class FlakyBroker:
    """Refuses (or hangs) until told to confirm; records what it confirmed."""

    def __init__(self) -> None:
        self.confirmed: list[Event] = []
        self.refusing = True
        self.hanging = False
        self.attempts = 0

    async def publish(self, event: Event) -> None:
        self.attempts += 1
        if self.hanging:
            await asyncio.Event().wait()
        if self.refusing:
            raise ConnectionError("broker refuses")
        self.confirmed.append(event)


async def _until(predicate: Callable[[], bool], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


async def test_a_refused_event_is_buffered_then_republished():
    broker = FlakyBroker()
    publisher = BackgroundEventPublisher(broker.publish, capacity=10, backoff_initial_s=0.01)
    publisher.start()
    before = _sample("lectern_gateway_events_republished_total", event_type="search.completed")
    event = _event()
    assert await publisher.publish(event, budget_s=1.0) is False
    assert publisher.buffered == 1
    await _until(lambda: broker.attempts >= 3)
    broker.refusing = False
    await _until(lambda: publisher.buffered == 0)
    assert broker.confirmed == [event]
    after = _sample("lectern_gateway_events_republished_total", event_type="search.completed")
    assert after - before == 1
    await publisher.close(grace_s=1.0)


async def test_a_hanging_broker_costs_only_the_budget():
    broker = FlakyBroker()
    broker.hanging = True
    publisher = BackgroundEventPublisher(broker.publish, capacity=10, backoff_initial_s=0.01)
    assert await publisher.publish(_event(), budget_s=0.05) is False
    assert publisher.buffered == 1
    await publisher.close(grace_s=0.1)


async def test_events_join_a_non_empty_buffer_in_order_without_waiting():
    broker = FlakyBroker()
    publisher = BackgroundEventPublisher(broker.publish, capacity=10, backoff_initial_s=0.01)
    events = [_event() for _ in range(3)]
    for event in events:
        await publisher.publish(event, budget_s=1.0)
    assert broker.attempts == 1
    broker.refusing = False
    publisher.start()
    await _until(lambda: publisher.buffered == 0)
    assert broker.confirmed == events
    await publisher.close(grace_s=1.0)


async def test_a_full_buffer_drops_the_new_event_and_counts_it():
    broker = FlakyBroker()
    publisher = BackgroundEventPublisher(broker.publish, capacity=2, backoff_initial_s=0.01)
    labels = {"event_type": "search.completed", "reason": "buffer_full"}
    before = _sample("lectern_gateway_events_dropped_total", **labels)
    kept = [_event(), _event()]
    for event in [*kept, _event()]:
        await publisher.publish(event, budget_s=0)
    assert publisher.buffered == 2
    assert _sample("lectern_gateway_events_dropped_total", **labels) - before == 1
    broker.refusing = False
    publisher.start()
    await _until(lambda: publisher.buffered == 0)
    assert broker.confirmed == kept
    await publisher.close(grace_s=1.0)


async def test_close_flushes_the_buffer():
    broker = FlakyBroker()
    publisher = BackgroundEventPublisher(broker.publish, capacity=10, backoff_initial_s=0.01)
    publisher.start()
    event = _event()
    await publisher.publish(event, budget_s=0)
    broker.refusing = False
    await publisher.close(grace_s=30)
    assert broker.confirmed == [event]
    assert publisher.buffered == 0


async def test_close_gives_up_after_the_grace_period_and_counts_the_drops():
    broker = FlakyBroker()
    publisher = BackgroundEventPublisher(broker.publish, capacity=10, backoff_initial_s=0.01)
    publisher.start()
    labels = {"event_type": "search.completed", "reason": "shutdown"}
    before = _sample("lectern_gateway_events_dropped_total", **labels)
    await publisher.publish(_event(), budget_s=0)
    await publisher.publish(_event(), budget_s=0)
    await publisher.close(grace_s=0.1)
    assert publisher.buffered == 0
    assert broker.confirmed == []
    assert _sample("lectern_gateway_events_dropped_total", **labels) - before == 2


class RefusingBackends(FakeBackends):
    """Fake backends whose event publishes fail until ``refusing`` is cleared."""

    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(settings)
        self.refusing = True

    async def publish_event(self, event: Event) -> None:
        if self.refusing:
            raise ServiceUnavailableError("event not confirmed by the broker")
        await super().publish_event(event)


async def test_search_answers_200_when_its_event_is_refused_and_publishes_it_later():
    backends = RefusingBackends(GatewaySettings(event_retry_max_s=0.05))
    backends.reply = SearchResponse(hits=[], latency_ms=1.0)
    app = create_app(backends.settings, backends=backends)
    async with AsyncTestClient(app) as client:
        response = await client.post("/v1/search", json={"query": "install"})
        assert response.status_code == 200, response.text
        assert backends.events == []
        assert backends.event_publisher.buffered == 1
        backends.refusing = False
        await _until(lambda: backends.event_publisher.buffered == 0)
    (event,) = backends.events
    assert isinstance(event, SearchCompleted)
    assert event.correlation_id == response.json()["request_id"]
