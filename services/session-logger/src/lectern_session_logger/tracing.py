"""Spans of the event consumer, which is plain aio-pika and so outside FastStream's middleware.

Each delivery of ``session-logger.events`` gets one ``CONSUMER`` span, a child of the
trace context in the message's headers (the publisher's FastStream telemetry middleware
put it there), from its arrival until its batch is committed. :func:`persisting` makes
it current while the delivery is accepted, so its log lines carry the ``trace_id``;
:func:`hand_over_span` passes it to the batch's result, which ends it. A delivery that
is never handed over (invalid and dead-lettered, shutting down, a handler bug) ends its
span at once, with an error status. With tracing off no span is made at all.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from lectern import topology
from lectern.tracing import extract_context, get_tracer, tracing_active
from lectern_session_logger.writer import Rejection

PERSIST_SPAN_NAME = f"{topology.SESSION_LOGGER_EVENTS_QUEUE} persist"
"""Name of the span of one event's delivery until its commit."""

EVENT_TYPE_ATTRIBUTE = "lectern.event_type"
"""Span attribute holding the event's type (``search.completed``...)."""

_delivery_span: ContextVar[Span | None] = ContextVar("lectern_delivery_span", default=None)


def start_persist_span(message: AbstractIncomingMessage) -> Span:
    """Start (not make current) the span of one delivery, continuing its publisher's trace."""
    return get_tracer().start_span(
        PERSIST_SPAN_NAME,
        context=extract_context(message.headers),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation": "process",
            "messaging.destination.name": topology.SESSION_LOGGER_EVENTS_QUEUE,
            "messaging.rabbitmq.destination.routing_key": message.routing_key or "",
            "messaging.message.id": message.message_id or "",
            "messaging.message.conversation_id": message.correlation_id or "",
        },
    )


@contextmanager
def persisting(message: AbstractIncomingMessage) -> Iterator[None]:
    """Run the block inside the delivery's span (nothing at all while tracing is off).

    The span ends at the block's end unless :func:`hand_over_span` passed it on.
    """
    if not tracing_active():
        yield
        return
    span = start_persist_span(message)
    token = _delivery_span.set(span)
    try:
        with trace.use_span(span, end_on_exit=False):
            yield
    finally:
        if _delivery_span.get() is span:  # not handed over: not stored by this delivery
            span.set_status(Status(StatusCode.ERROR, "not stored (dead-lettered or redelivered)"))
            span.end()
        _delivery_span.reset(token)


def set_event_type(event_type: str) -> None:
    """Record the delivery's event type on its span (no-op outside :func:`persisting`)."""
    span = _delivery_span.get()
    if span is not None:
        span.set_attribute(EVENT_TYPE_ATTRIBUTE, event_type)


def hand_over_span(future: asyncio.Future[Sequence[Rejection]], index: int) -> None:
    """Let the delivery's batch result end its span (no-op outside :func:`persisting`).

    Args:
        future: the results of the delivery's batch (:meth:`Batcher.add`).
        index: the delivery's position in that batch.
    """
    span = _delivery_span.get()
    if span is not None:
        _delivery_span.set(None)
        future.add_done_callback(functools.partial(end_persist_span, span, index))


def end_persist_span(span: Span, index: int, future: asyncio.Future[Sequence[Rejection]]) -> None:
    """Done callback of a delivery's batch result: end its span, with an error if not stored."""
    if future.cancelled() or future.exception() is not None:
        span.set_status(Status(StatusCode.ERROR, "not stored: left for redelivery"))
    elif (rejection := future.result()[index]) is not None:
        span.set_status(Status(StatusCode.ERROR, f"rejected by the store: {rejection[:200]}"))
    span.end()
