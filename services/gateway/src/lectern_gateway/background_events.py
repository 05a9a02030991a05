"""Events of read-like requests, published without ever failing the request.

A search or an answer has already computed its result when it publishes its
``SearchCompleted`` / ``AnswerCompleted``; a broker that refuses or delays that publish
must not turn the result into a ``503``. :class:`BackgroundEventPublisher` tries the
publish once within the request's remaining time budget; an event that is not confirmed
by then goes to a bounded in-memory buffer, and a background task republishes the
buffer in order, with exponential back-off plus random jitter (tenacity's
``wait_exponential_jitter``, the scheme of Google Cloud Storage's "Retry strategy"
guide) until the broker confirms.

Trade-offs, on purpose:

- The buffer lives in the gateway's memory: an event waiting in it is lost if the
  process dies (``kill -9``, OOM). On a normal shutdown the buffer is flushed within
  ``SHUTDOWN_GRACE_S``; what is still unconfirmed then is counted and logged as dropped.
- When the buffer is full (``EVENT_BUFFER_SIZE``) the *new* event is dropped, counted in
  ``lectern_gateway_events_dropped_total{reason="buffer_full"}`` and logged at ERROR with
  its ``event_id``: memory stays bounded, the events already waiting keep their order,
  and the request still answers (its result is already computed).
- An inline publish cut short by the budget may still reach the broker; the republish
  is then a duplicate with the same ``event_id``, which the session-logger ignores.

Commands and the events whose durability a ``2xx`` promises (``POST /v1/documents`` and
its ``DocumentAccepted``) never take this path: they are confirmed before the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_exponential_jitter

from lectern.contracts import Event
from lectern.logging import get_logger

log = get_logger(__name__)

EVENTS_BUFFERED = Gauge(
    "lectern_gateway_events_buffered",
    "Events waiting in the gateway's memory to be republished.",
)
EVENTS_DEFERRED = Counter(
    "lectern_gateway_events_deferred",
    "Events not confirmed within their request's budget, handed to the background.",
    ["event_type"],
)
EVENTS_REPUBLISHED = Counter(
    "lectern_gateway_events_republished",
    "Buffered events the broker confirmed on a background retry.",
    ["event_type"],
)
EVENTS_DROPPED = Counter(
    "lectern_gateway_events_dropped",
    "Events given up: the buffer was full, or shutdown came before the broker confirmed.",
    ["event_type", "reason"],
)

Publish = Callable[[Event], Awaitable[None]]
"""Publishes one event with broker confirms; raises when it is not confirmed."""


class BackgroundEventPublisher:
    """Publishes events now if the broker confirms in time, later from a bounded buffer.

    Args:
        publish: the confirmed publish (an adapter seam: unit tests pass a fake).
        capacity: most events held in memory (``EVENT_BUFFER_SIZE``).
        backoff_initial_s: first retry delay in seconds (doubles, with jitter).
        backoff_max_s: longest retry delay in seconds.
    """

    def __init__(
        self,
        publish: Publish,
        *,
        capacity: int,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self._publish = publish
        self._capacity = capacity
        self._wait = wait_exponential_jitter(
            multiplier=backoff_initial_s, max=backoff_max_s, jitter=backoff_initial_s
        )
        self._buffer: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def buffered(self) -> int:
        """Events waiting to be republished."""
        return len(self._buffer)

    def start(self) -> None:
        """Start the background republisher (call inside the running event loop)."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="lectern-event-republisher")

    async def publish(self, event: Event, *, budget_s: float) -> bool:
        """Publish ``event``, waiting at most ``budget_s`` seconds for the confirm.

        Never raises for a broker failure: an unconfirmed event is buffered (or, when
        the buffer is full or the publisher closed, dropped, counted and logged). While
        events wait in the buffer a new one joins them at once, so order is kept and no
        request waits for a broker already known to refuse.

        Args:
            event: the event to publish.
            budget_s: seconds the caller can still wait; ``<= 0`` buffers at once.

        Returns:
            ``True`` when the broker confirmed it now, ``False`` when it was deferred.
        """
        if budget_s > 0 and not self._buffer:
            try:
                async with asyncio.timeout(budget_s):
                    await self._publish(event)
                return True
            except Exception as exc:  # any failure defers; the request must not fail
                log.warning(
                    "event.deferred",
                    event_id=str(event.event_id),
                    event_type=event.event_type,
                    error=type(exc).__name__,
                )
        self._defer(event)
        return False

    async def close(self, grace_s: float) -> None:
        """Flush the buffer for up to ``grace_s`` seconds, then stop; drop what is left."""
        self._closing = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=grace_s)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        while self._buffer:
            EVENTS_BUFFERED.dec()
            self._drop(self._buffer.popleft(), "shutdown")

    def _defer(self, event: Event) -> None:
        EVENTS_DEFERRED.labels(event.event_type).inc()
        if self._closing or len(self._buffer) >= self._capacity:
            self._drop(event, "closed" if self._closing else "buffer_full")
            return
        self._buffer.append(event)
        EVENTS_BUFFERED.inc()
        self._wakeup.set()

    def _drop(self, event: Event, reason: str) -> None:
        EVENTS_DROPPED.labels(event.event_type, reason).inc()
        log.error(
            "event.dropped",
            event_id=str(event.event_id),
            event_type=event.event_type,
            correlation_id=event.correlation_id,
            reason=reason,
        )

    async def _run(self) -> None:
        while True:
            if not self._buffer:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event = self._buffer[0]
            await self._publish_until_confirmed(event)
            self._buffer.popleft()
            EVENTS_BUFFERED.dec()
            EVENTS_REPUBLISHED.labels(event.event_type).inc()
            log.info("event.republished", event_id=str(event.event_id))

    async def _publish_until_confirmed(self, event: Event) -> None:
        retrying = AsyncRetrying(
            wait=self._wait,
            retry=retry_if_exception_type(Exception),
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._publish(event)


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    log.warning(
        "event.republish_failed",
        attempt=state.attempt_number,
        retry_in_s=round(state.upcoming_sleep, 2),
        error=type(error).__name__ if error is not None else None,
    )
