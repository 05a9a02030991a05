from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg

from lectern_session_logger.events import StoredEvent
from lectern_session_logger.writer import Backoff, ResilientWriter


def make_event(payload: str = "{}") -> StoredEvent:
    return StoredEvent(
        event_id=uuid4(),
        occurred_at=datetime.now(UTC),
        event_type="x",
        schema_version=1,
        correlation_id=None,
        session_id=None,
        document_id=None,
        payload=payload,
    )


class FakeRepository:
    """Fails the first ``outages`` calls with a connection error; rejects payload 'bad'."""

    def __init__(self, outages: int = 0) -> None:
        self.outages = outages
        self.calls = 0
        self.stored: list[StoredEvent] = []

    async def write_batch(self, events: Sequence[StoredEvent]) -> int:
        self.calls += 1
        if self.outages:
            self.outages -= 1
            raise ConnectionRefusedError("postgres down")
        if any(event.payload == "bad" for event in events):
            raise asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax")
        self.stored.extend(events)
        return len(events)


FAST = Backoff(initial_s=0.001, max_s=0.002)


async def test_transient_failures_are_retried_until_stored():
    repository = FakeRepository(outages=3)
    writer = ResilientWriter(repository, FAST)
    events = [make_event() for _ in range(5)]
    assert await writer.write(events) == [None] * 5
    assert repository.calls == 4
    assert repository.stored == events
    assert writer.available


async def test_a_bad_row_is_isolated_and_the_rest_stored():
    repository = FakeRepository()
    writer = ResilientWriter(repository, FAST)
    events = [make_event() for _ in range(7)]
    events[4] = make_event("bad")
    results = await writer.write(events)
    assert [r is None for r in results] == [True] * 4 + [False] + [True] * 2
    assert "rejected by Postgres" in str(results[4])
    assert {e.event_id for e in repository.stored} == {
        e.event_id for i, e in enumerate(events) if i != 4
    }


def test_backoff_grows_and_is_capped():
    backoff = Backoff(initial_s=0.2, max_s=10)
    assert 0.1 <= backoff.delay(1) <= 0.2
    assert 0.4 <= backoff.delay(3) <= 0.8
    assert 5 <= backoff.delay(50) <= 10
