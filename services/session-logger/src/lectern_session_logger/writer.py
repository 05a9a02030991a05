"""The batch flush policy: retry while Postgres is away, hold while it refuses, isolate bad rows.

Failures are sorted by :func:`lectern_session_logger.db.classify`:

- unavailable (connection lost, server shutting down, too many connections,
  serialization failure, deadlock): retried with capped exponential back-off with
  "equal jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015),
  logged as a warning;
- blocked (a configuration error: missing table 42P01, revoked grant 42501, read-only
  database 25006, authorization 28xxx, unknown error...): retried with the same
  back-off, but logged at ERROR once per back-off step, reported in the ping reply
  (``store_ok`` false, the SQLSTATE in ``detail``) and in the
  ``lectern_session_logger_writes_blocked`` gauge; the pool's connections are
  replaced before each retry, so a repaired session setting (read-only) is seen;
- data (SQLSTATE classes 22, 23, 54): the batch is split in halves until the
  offending events are alone; only those are reported as rejected (dead-lettered).

In the first two cases the batch's messages stay unacknowledged in RabbitMQ (nothing
is lost), the consumer never spins, and writing resumes by itself once Postgres takes
the batch.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass

from lectern import failpoints
from lectern.logging import get_logger
from lectern_session_logger.db import Failure, classify, describe_sqlstate, sqlstate_of
from lectern_session_logger.events import StoredEvent
from lectern_session_logger.metrics import WRITE_FAILURES, WRITES_BLOCKED, timed_write
from lectern_session_logger.store import EventRepository

log = get_logger(__name__)

Rejection = str | None
"""Outcome of one event: ``None`` when stored (or already stored), else why not."""


class Backoff:
    """Capped exponential back-off with "equal jitter" (half fixed, half random).

    Args:
        initial_s: upper bound of the first delay, in seconds.
        max_s: upper bound of any delay, in seconds.
    """

    def __init__(self, initial_s: float = 0.2, max_s: float = 10.0) -> None:
        self.initial_s = initial_s
        self.max_s = max_s

    def delay(self, attempt: int) -> float:
        """Seconds to sleep before retry ``attempt`` (1-based), uniform in ``[cap / 2, cap]``."""
        cap = min(self.max_s, self.initial_s * 2 ** min(attempt - 1, 30))
        return random.uniform(cap / 2, cap)


@dataclass(frozen=True, slots=True)
class WriteHealth:
    """State of the batch writer, as the last attempt left it.

    Attributes:
        failure: ``None`` while writes succeed, else the kind of the last failure.
        sqlstate: the last failure's SQLSTATE, if it had one.
    """

    failure: Failure | None = None
    sqlstate: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the last write attempt succeeded (or none failed yet)."""
        return self.failure is None

    def describe(self) -> str | None:
        """A sentence for the ping reply, ``None`` when writes succeed."""
        if self.failure is Failure.BLOCKED:
            return (
                f"event writes blocked: Postgres refuses them with "
                f"{describe_sqlstate(self.sqlstate)}; events are held and retried"
            )
        if self.failure is Failure.UNAVAILABLE:
            return (
                f"event writes failing: Postgres unavailable ({describe_sqlstate(self.sqlstate)})"
                "; retrying"
            )
        return None


class ResilientWriter:
    """Flush function for the batcher: stores a batch, whatever it takes.

    Args:
        repository: where batches go.
        backoff: delays between attempts while the store is unavailable.
    """

    def __init__(self, repository: EventRepository, backoff: Backoff | None = None) -> None:
        self._repository = repository
        self._backoff = backoff or Backoff()
        self.health = WriteHealth()
        """How the last attempt went (for the ping reply)."""

    @property
    def available(self) -> bool:
        """Whether the last write attempt succeeded."""
        return self.health.ok

    async def write(self, events: list[StoredEvent]) -> Sequence[Rejection]:
        """Store ``events``; return ``None`` for each stored one, a reason for each rejected.

        Returns only once every event is either committed or rejected by Postgres for
        its data; retries for as long as Postgres is unavailable (until cancelled).
        """
        attempt = 0
        while True:
            try:
                with timed_write(events):
                    inserted = await self._repository.write_batch(events)
            except Exception as exc:
                failure = classify(exc)
                WRITE_FAILURES.labels(failure.value, sqlstate_of(exc) or "none").inc()
                if failure is Failure.DATA:
                    return await self._bisect(events, exc)
                attempt += 1
                self._set_health(WriteHealth(failure, sqlstate_of(exc)))
                await self._wait(attempt, len(events), exc, failure)
                continue
            failpoints.crash_if("session-logger.after-commit")  # before any ack
            if attempt:
                log.info("store.recovered", attempts=attempt + 1, size=len(events))
            self._set_health(WriteHealth())
            log.debug("batch.stored", size=len(events), inserted=inserted)
            return [None] * len(events)

    def _set_health(self, health: WriteHealth) -> None:
        before = self.health
        if before.failure is Failure.BLOCKED and before.sqlstate != health.sqlstate:
            WRITES_BLOCKED.labels(before.sqlstate or "none").set(0)
        if health.failure is Failure.BLOCKED:
            WRITES_BLOCKED.labels(health.sqlstate or "none").set(1)
        elif before.failure is Failure.BLOCKED:
            WRITES_BLOCKED.labels(before.sqlstate or "none").set(0)
        self.health = health

    async def _wait(self, attempt: int, size: int, exc: Exception, failure: Failure) -> None:
        delay = self._backoff.delay(attempt)
        if failure is Failure.UNAVAILABLE:
            log.warning(
                "store.unavailable",
                attempt=attempt,
                retry_in_s=round(delay, 2),
                size=size,
                sqlstate=sqlstate_of(exc),
                error=repr(exc),
            )
        else:
            log.error(
                "store.writes_blocked",
                attempt=attempt,
                retry_in_s=round(delay, 2),
                size=size,
                sqlstate=sqlstate_of(exc),
                reason=describe_sqlstate(sqlstate_of(exc)),
                exc_info=exc,
            )
        await asyncio.sleep(delay)
        if failure is Failure.BLOCKED:
            await self._repository.reset()

    async def _bisect(self, events: list[StoredEvent], exc: Exception) -> Sequence[Rejection]:
        if len(events) == 1:
            log.warning(
                "event.rejected_by_store", event_id=str(events[0].event_id), error=repr(exc)
            )
            return [f"rejected by Postgres: {exc}"]
        middle = len(events) // 2
        return [*await self.write(events[:middle]), *await self.write(events[middle:])]
