from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest
from prometheus_client import REGISTRY

from lectern_session_logger.db import Failure, classify
from lectern_session_logger.events import StoredEvent
from lectern_session_logger.writer import Backoff, ResilientWriter, WriteHealth


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
        self.resets = 0
        self.stored: list[StoredEvent] = []

    async def reset(self) -> None:
        self.resets += 1

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


class RefusingRepository(FakeRepository):
    """Refuses the first ``refusals`` calls with ``error`` (a configuration error)."""

    def __init__(self, error: Exception, refusals: int) -> None:
        super().__init__()
        self.error = error
        self.refusals = refusals
        self.health_seen: list[WriteHealth] = []
        self.writer: ResilientWriter | None = None
        self.refused_thrice = asyncio.Event()

    async def write_batch(self, events: Sequence[StoredEvent]) -> int:
        if self.writer is not None:
            self.health_seen.append(self.writer.health)
        if self.refusals:
            self.refusals -= 1
            self.calls += 1
            if self.calls >= 3:
                self.refused_thrice.set()
            raise self.error
        return await super().write_batch(events)


def _blocked(sqlstate: str) -> float:
    value = REGISTRY.get_sample_value(
        "lectern_session_logger_writes_blocked", {"sqlstate": sqlstate}
    )
    return value or 0.0


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.UndefinedTableError("relation does not exist"),
        asyncpg.exceptions.InsufficientPrivilegeError("permission denied"),
        asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction"),
        asyncpg.exceptions.InvalidCatalogNameError("database does not exist"),
        asyncpg.exceptions.InvalidPasswordError("password authentication failed"),
        asyncpg.exceptions.UndefinedColumnError("column does not exist"),
    ],
)
async def test_configuration_errors_hold_the_batch_and_report_the_sqlstate(error: Exception):
    repository = RefusingRepository(error, refusals=3)
    writer = ResilientWriter(repository, FAST)
    repository.writer = writer
    events = [make_event() for _ in range(4)]
    assert await writer.write(events) == [None] * 4  # held, then stored: none rejected
    state = error.sqlstate  # type: ignore[attr-defined]
    assert [h.failure for h in repository.health_seen] == [None] + [Failure.BLOCKED] * 3
    assert {h.sqlstate for h in repository.health_seen[1:]} == {state}
    assert repository.resets == 3  # fresh connections before every retry
    assert repository.stored == events
    assert writer.health.ok
    assert _blocked(state) == 0


async def test_the_blocked_gauge_is_up_while_writes_are_refused():
    repository = RefusingRepository(
        asyncpg.exceptions.InsufficientPrivilegeError("permission denied"), refusals=10**9
    )
    writer = ResilientWriter(repository, FAST)
    task = asyncio.create_task(writer.write([make_event()]))
    try:
        async with asyncio.timeout(30):
            await repository.refused_thrice.wait()
        assert _blocked("42501") == 1
        assert writer.health == WriteHealth(Failure.BLOCKED, "42501")
        assert not repository.stored
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (asyncpg.exceptions.SerializationError("could not serialize"), Failure.UNAVAILABLE),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), Failure.UNAVAILABLE),
        (asyncpg.exceptions.AdminShutdownError("terminating"), Failure.UNAVAILABLE),
        (asyncpg.exceptions.CrashShutdownError("crash"), Failure.UNAVAILABLE),
        (asyncpg.exceptions.CannotConnectNowError("starting up"), Failure.UNAVAILABLE),
        (asyncpg.exceptions.TooManyConnectionsError("too many"), Failure.UNAVAILABLE),
        (asyncpg.exceptions.ConnectionDoesNotExistError("gone"), Failure.UNAVAILABLE),
        (ConnectionResetError("reset"), Failure.UNAVAILABLE),
        (asyncpg.exceptions.UndefinedTableError("x"), Failure.BLOCKED),
        (asyncpg.exceptions.InsufficientPrivilegeError("x"), Failure.BLOCKED),
        (asyncpg.exceptions.ReadOnlySQLTransactionError("x"), Failure.BLOCKED),
        (asyncpg.exceptions.DatabaseDroppedError("x"), Failure.BLOCKED),
        (RuntimeError("a bug"), Failure.BLOCKED),
        (asyncpg.exceptions.UntranslatableCharacterError("x"), Failure.DATA),
        (asyncpg.exceptions.UniqueViolationError("x"), Failure.DATA),
        (asyncpg.exceptions.ProgramLimitExceededError("x"), Failure.DATA),
    ],
)
def test_failures_are_classified_by_sqlstate(error: Exception, failure: Failure):
    assert classify(error) is failure
