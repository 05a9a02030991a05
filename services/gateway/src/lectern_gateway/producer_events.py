"""Service layer of ``POST /v1/events``: producers' own events, relayed onto the broker.

A producer without AMQP posts one event or a batch in the generic envelope
(:class:`lectern.contracts.EventEnvelope`). Every item is checked before anything is
published (all or nothing): its type must be a producer's type
(:data:`lectern.message_schemas.FOREIGN_EVENT_TYPE`, not under
:data:`lectern.message_schemas.RESERVED_EVENT_PREFIXES`) and its JSON at most
:data:`MAX_EVENT_BYTES`. Then every item is published on ``lectern.events`` with
publisher confirms; the caller answers ``202`` only when the broker confirmed them all.
The session-logger stores each ``event_id`` once, so resending a batch is safe.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pydantic
from litestar.exceptions import ValidationException
from pydantic import BaseModel, Field

from lectern.contracts import EventEnvelope
from lectern.message_schemas import FOREIGN_EVENT_TYPE, is_reserved_event_type
from lectern_gateway.backends import Backends
from lectern_gateway.errors import ServiceUnavailableError

MAX_BATCH_EVENTS = 100
"""Events in one ``POST /v1/events`` at most."""

MAX_EVENT_BYTES = 64 * 1024
"""Largest event, as its JSON in UTF-8 bytes (the session-logger stores up to 1 MiB)."""


class EventsAcceptedBody(BaseModel):
    """Answer to ``POST /v1/events``: every event was confirmed by the broker.

    Attributes:
        accepted: how many events were published.
        event_ids: their ids, in the order sent.
        request_id: this request's id (the events' ``correlation_id`` when they had none).
    """

    accepted: int = Field(ge=1)
    event_ids: list[UUID]
    request_id: str


def parse_events(items: list[dict[str, Any]]) -> list[EventEnvelope]:
    """Validate each item as an :class:`EventEnvelope`, strictly, as JSON.

    The gateway validates request bodies strictly (``"5"`` is no integer). An envelope's
    ``event_id`` and ``occurred_at`` are JSON strings by definition, which pydantic's
    strict *Python* mode refuses, so each item is validated in strict *JSON* mode
    (re-encoded, at most 64 KiB each): strings for UUIDs and times, exact types elsewhere.

    Raises:
        ValidationException: (400) every error of every item, keyed ``"<index>.<field>"``.
    """
    found: list[EventEnvelope] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            found.append(EventEnvelope.model_validate_json(json.dumps(item), strict=True))
        except pydantic.ValidationError as exc:
            errors.extend(
                {
                    "key": ".".join(map(str, (index, *error["loc"]))),
                    "message": error["msg"],
                    "source": "body",
                }
                for error in exc.errors()
            )
    if errors:
        raise ValidationException(detail="some events are not valid envelopes", extra=errors)
    return found


def check_events(events: list[EventEnvelope]) -> None:
    """Refuse a batch in which any event cannot be published by a producer.

    Args:
        events: the parsed events, in the order sent.

    Raises:
        ValidationException: (400) one entry per refused event in ``extra``, each with
            ``key`` ``"<index>.<field>"``, ``message`` and ``source`` ``"body"``.
    """
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        message = _refusal(event)
        if message is not None:
            errors.append({"key": f"{index}.event_type", "message": message, "source": "body"})
    if len(events) > MAX_BATCH_EVENTS:
        errors.append(
            {"key": "body", "message": f"at most {MAX_BATCH_EVENTS} events", "source": "body"}
        )
    if errors:
        raise ValidationException(detail="some events cannot be accepted", extra=errors)


def _refusal(event: EventEnvelope) -> str | None:
    if is_reserved_event_type(event.event_type):
        return f"{event.event_type!r} is one of Lectern's own event types; use your own prefix"
    if not FOREIGN_EVENT_TYPE.fullmatch(event.event_type):
        return "event_type must be lower-case dot-separated words, e.g. support.ticket.closed"
    size = len(event.model_dump_json().encode("utf-8", errors="surrogatepass"))
    if size > MAX_EVENT_BYTES:
        return f"event is {size} bytes of JSON; the limit is {MAX_EVENT_BYTES}"
    return None


async def publish_events(
    backends: Backends, events: list[EventEnvelope], request_id: str
) -> EventsAcceptedBody:
    """Check and publish producer events; return once the broker confirmed every one.

    Events without a ``correlation_id`` get ``request_id``. Publishes run concurrently
    on the gateway's confirming channel.

    Raises:
        ValidationException: an event is refused (see :func:`check_events`); nothing
            was published.
        ServiceUnavailableError: (503) the broker did not confirm some events; ``detail``
            names how many. Resending the whole batch is safe (idempotent on
            ``event_id``).
    """
    check_events(events)
    stamped = [
        e if e.correlation_id else e.model_copy(update={"correlation_id": request_id})
        for e in events
    ]
    results = await asyncio.gather(
        *(backends.publish_envelope(event) for event in stamped), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        unexpected = [r for r in failed if not isinstance(r, ServiceUnavailableError)]
        if unexpected:
            raise unexpected[0]
        raise ServiceUnavailableError(
            f"{len(failed)} of {len(events)} events were not confirmed by the broker; "
            "resend the batch (events are stored once per event_id)"
        )
    return EventsAcceptedBody(
        accepted=len(stamped), event_ids=[e.event_id for e in stamped], request_id=request_id
    )
