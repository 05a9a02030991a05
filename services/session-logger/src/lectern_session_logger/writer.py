"""The batch flush policy: retry while Postgres is away, isolate rows it can never take.

- Transient failures (connection lost, server shutting down, deadlock...) and errors
  of unknown cause are retried with capped exponential back-off with "equal jitter" (AWS
  Architecture Blog, "Exponential Backoff And Jitter", 2015); the batch's messages
  stay unacknowledged in RabbitMQ meanwhile, and the consumer never spins.
- A failure caused by the data (SQLSTATE classes 22, 23, 54) splits the batch in
  halves until the offending events are alone; only those are reported as rejected.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from lectern import failpoints
from lectern.logging import get_logger
from lectern_session_logger.db import is_data_error, is_transient
from lectern_session_logger.events import StoredEvent
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


class ResilientWriter:
    """Flush function for the batcher: stores a batch, whatever it takes.

    Args:
        repository: where batches go.
        backoff: delays between attempts while the store is unavailable.
    """

    def __init__(self, repository: EventRepository, backoff: Backoff | None = None) -> None:
        self._repository = repository
        self._backoff = backoff or Backoff()
        self.available = True
        """False while the last attempt failed for a transient reason (for health)."""

    async def write(self, events: list[StoredEvent]) -> Sequence[Rejection]:
        """Store ``events``; return ``None`` for each stored one, a reason for each rejected.

        Returns only once every event is either committed or rejected by Postgres for
        its data; retries for as long as Postgres is unavailable (until cancelled).
        """
        attempt = 0
        while True:
            try:
                inserted = await self._repository.write_batch(events)
            except Exception as exc:
                if is_data_error(exc):
                    return await self._bisect(events, exc)
                attempt += 1
                await self._wait(attempt, len(events), exc)
                continue
            failpoints.crash_if("session-logger.after-commit")  # before any ack
            if attempt:
                log.info("store.recovered", attempts=attempt + 1, size=len(events))
            self.available = True
            log.debug("batch.stored", size=len(events), inserted=inserted)
            return [None] * len(events)

    async def _wait(self, attempt: int, size: int, exc: Exception) -> None:
        self.available = False
        delay = self._backoff.delay(attempt)
        if is_transient(exc):
            log.warning(
                "store.unavailable",
                attempt=attempt,
                retry_in_s=round(delay, 2),
                size=size,
                error=repr(exc),
            )
        else:
            log.error(
                "store.write_failed",
                attempt=attempt,
                retry_in_s=round(delay, 2),
                size=size,
                exc_info=exc,
            )
        await asyncio.sleep(delay)

    async def _bisect(self, events: list[StoredEvent], exc: Exception) -> Sequence[Rejection]:
        if len(events) == 1:
            log.warning(
                "event.rejected_by_store", event_id=str(events[0].event_id), error=repr(exc)
            )
            return [f"rejected by Postgres: {exc}"]
        middle = len(events) // 2
        return [*await self.write(events[:middle]), *await self.write(events[middle:])]
