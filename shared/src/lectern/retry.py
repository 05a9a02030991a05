"""Retry with back-off for transient failures, through TTL retry queues.

A consumer that hits a transient failure (store unavailable, timeout) republishes the
message, with its attempt count raised in :data:`lectern.topology.ATTEMPT_HEADER`, to
the retry queue of the next back-off tier, then acknowledges the original. A retry
queue has no consumer: its ``x-message-ttl`` expires the message, which dead-letters
back to the work queue through the default exchange. After the last tier the consumer
dead-letters the message for good. This is the "delayed retry via TTL + DLX" pattern of
RabbitMQ's documentation ("Dead Letter Exchanges", "Time-To-Live and Expiration").

One queue per tier (not one per-message TTL) because RabbitMQ only expires messages at
the head of a queue: a long delay would hold back shorter ones behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faststream.rabbit import QueueType, RabbitBroker, RabbitQueue
from faststream.rabbit.schemas.queue import QuorumQueueArgs

from lectern import topology

RETRY_DELAYS_MS: tuple[int, ...] = (1_000, 5_000, 30_000)
"""Back-off tiers in milliseconds; attempt ``n`` (1-based) waits ``RETRY_DELAYS_MS[n-1]``."""


def retry_queue_name(work_queue: str, delay_ms: int) -> str:
    """Name of the retry tier ``delay_ms`` of ``work_queue`` (``<queue>.retry.<ms>ms``)."""
    return f"{work_queue}.retry.{delay_ms}ms"


def retry_queue(work_queue: str, delay_ms: int) -> RabbitQueue:
    """Build the quorum retry queue that dead-letters back to ``work_queue`` after a delay."""
    arguments: QuorumQueueArgs = {
        "x-message-ttl": delay_ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": work_queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    return RabbitQueue(
        retry_queue_name(work_queue, delay_ms),
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments=arguments,
    )


def attempt_of(headers: Mapping[str, Any] | None) -> int:
    """Return how many times a message was tried before (0 when the header is absent)."""
    try:
        return max(0, int((headers or {}).get(topology.ATTEMPT_HEADER, 0)))
    except (TypeError, ValueError):
        return 0


async def schedule_retry(
    broker: RabbitBroker,
    *,
    work_queue: str,
    body: bytes,
    headers: Mapping[str, Any] | None,
    correlation_id: str | None = None,
    message_id: str | None = None,
    timeout: float = 10.0,
) -> bool:
    """Republish a message to its next back-off tier, confirmed and persistent.

    Args:
        broker: a connected broker whose channel uses publisher confirms.
        work_queue: the queue the message came from (and will return to).
        body: the message body, unchanged.
        headers: the message's headers; the attempt count is raised by one.
        correlation_id: kept on the retried message.
        message_id: kept on the retried message.
        timeout: seconds to wait for the confirm.

    Returns:
        ``True`` when the retry is scheduled (ack the original), ``False`` when every
        tier is used up (dead-letter the original instead).

    Raises:
        aio_pika.exceptions.DeliveryError: the broker refused the retry publish.
    """
    attempt = attempt_of(headers) + 1
    if attempt > len(RETRY_DELAYS_MS):
        return False
    delay_ms = RETRY_DELAYS_MS[attempt - 1]
    await broker.publish(
        body,
        queue=retry_queue_name(work_queue, delay_ms),
        persist=True,
        mandatory=True,
        timeout=timeout,
        headers={**dict(headers or {}), topology.ATTEMPT_HEADER: attempt},
        correlation_id=correlation_id,
        message_id=message_id,
        content_type="application/json",
    )
    return True
