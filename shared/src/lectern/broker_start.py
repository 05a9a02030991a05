"""Start a FastStream broker through the transient failures of a broker that is starting.

A subscriber's start declares its queue and then sends ``basic.consume``. On a quorum
queue that another connection declared a moment earlier (two replicas starting together)
RabbitMQ may answer the consume before the queue's Raft member runs: the channel crashes
with ``{badmatch,{error,noproc}}`` in ``rabbit_quorum_queue:consume/3`` and the broker
closes the whole connection with 541 ``INTERNAL_ERROR`` (the same window is reported in
wagslane/go-rabbitmq#200; on this machine two processes declaring five fresh
single-active-consumer quorum queues together hit it in about one start in five). The
queue is fine a few milliseconds later, so the start is worth repeating; a service that
exited instead would leave its replica down until an orchestrator restarted it.

:class:`RetryingRabbitBroker` repeats :meth:`~faststream.rabbit.RabbitBroker.start` with
exponential back-off (tenacity) on the connection-level errors a starting or restarting
broker produces, after closing what the failed attempt opened, and re-raises anything
else (a refused declaration, bad credentials) at once. Each retry logs one warning line
(``broker.start_retry``); the last failure propagates, so the service exits non-zero.
"""

from __future__ import annotations

import aiormq.exceptions
from faststream.rabbit import RabbitBroker
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from lectern.logging import get_logger

log = get_logger(__name__)

START_ATTEMPTS = 6
"""Starts tried before the failure propagates (back-off 0.2 s doubling to 5 s: ~10 s in all)."""

CONNECTION_FORCED = 320
"""AMQP reply code of a connection the broker closes on purpose (it is shutting down)."""


def is_transient_start_error(exc: BaseException) -> bool:
    """Whether a start that raised ``exc`` should be repeated.

    Transient: 541 ``INTERNAL_ERROR`` (a quorum queue not yet running), 506
    ``RESOURCE_ERROR`` (a resource alarm), 320 ``CONNECTION_FORCED`` (the broker is
    stopping), a channel used after its connection closed, and a TCP connection refused
    or reset. Not transient: a channel-level refusal (406 ``PRECONDITION_FAILED`` for a
    queue declared with other arguments, 403, 404), 530 ``NOT_ALLOWED`` (no access to
    the vhost), a protocol error: repeating those changes nothing, so they propagate on
    the first attempt.
    """
    if isinstance(
        exc,
        aiormq.exceptions.ConnectionInternalError
        | aiormq.exceptions.ConnectionResourceError
        | aiormq.exceptions.ChannelInvalidStateError,
    ):
        return True
    if isinstance(exc, aiormq.exceptions.AMQPError):
        return (
            type(exc) is aiormq.exceptions.ConnectionClosed
            and bool(exc.args)
            and exc.args[0] == CONNECTION_FORCED
        )
    return isinstance(exc, ConnectionError)


class RetryingRabbitBroker(RabbitBroker):
    """A :class:`~faststream.rabbit.RabbitBroker` whose ``start`` outlasts a starting broker.

    Only :meth:`start` differs: see the module docstring for what is retried and why.
    Publishing, subscribing and stopping are FastStream's own.
    """

    async def start(self) -> None:
        """Connect, declare and consume every subscriber's queue, retrying transient errors.

        Raises:
            Exception: the last transient error after :data:`START_ATTEMPTS` attempts, or
                any other error of FastStream's ``start`` at once.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient_start_error),
            stop=stop_after_attempt(START_ATTEMPTS),
            wait=wait_exponential_jitter(multiplier=0.2, max=5.0, jitter=0.2),
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    await super().start()
                except Exception as exc:
                    if is_transient_start_error(exc):
                        await self._reset()
                    raise

    async def _reset(self) -> None:
        """Close what a failed start opened, so the next one connects afresh."""
        try:
            await self.stop()
        except Exception as exc:  # a half-open connection may fail to close cleanly
            log.debug("broker.reset_failed", error=type(exc).__name__)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "broker.start_retry",
        attempt=state.attempt_number,
        error=type(error).__name__,
        reply=str(error)[:120] if error is not None else None,
        retry_in_s=round(state.upcoming_sleep, 2),
    )
