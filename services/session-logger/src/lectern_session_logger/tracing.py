"""Spans of the event consumer, which is plain aio-pika and so outside FastStream's middleware.

Each delivery of ``session-logger.events`` gets one ``CONSUMER`` span, a child of the
trace context in the message's headers (the publisher's FastStream telemetry middleware
put it there), from its arrival until its batch is committed (or it is dead-lettered).
The span is made current while the delivery is accepted, so its log lines carry the
``trace_id``. With tracing off no span is made at all.
"""

from __future__ import annotations

import asyncio
import contextlib

from aio_pika.abc import AbstractIncomingMessage
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from lectern import topology
from lectern.tracing import extract_context, get_tracer, tracing_active
from lectern_session_logger.writer import Rejection

PERSIST_SPAN_NAME = f"{topology.SESSION_LOGGER_EVENTS_QUEUE} persist"
"""Name of the span of one event's delivery until its commit."""

EVENT_TYPE_ATTRIBUTE = "lectern.event_type"
"""Span attribute holding the event's type (``search.completed``...)."""


def start_persist_span(message: AbstractIncomingMessage) -> Span:
    """Start (not make current) the span of one delivery, continuing its publisher's trace.

    Returns :data:`~opentelemetry.trace.INVALID_SPAN` (records nothing) while tracing is off.
    """
    if not tracing_active():
        return INVALID_SPAN
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


def made_current(span: Span) -> contextlib.AbstractContextManager[object]:
    """Make ``span`` current inside the block (nothing to do, and free, when it records nothing)."""
    if not span.is_recording():
        return contextlib.nullcontext()
    return trace.use_span(span, end_on_exit=False)


def end_persist_span(span: Span, future: asyncio.Future[Rejection]) -> None:
    """Done callback of a delivery's batch result: end its span, with an error if not stored."""
    if future.cancelled() or future.exception() is not None:
        span.set_status(Status(StatusCode.ERROR, "not stored: left for redelivery"))
    elif (rejection := future.result()) is not None:
        span.set_status(Status(StatusCode.ERROR, f"rejected by the store: {rejection[:200]}"))
    span.end()
