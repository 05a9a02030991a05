"""Turning a message body from ``lectern.events`` into a row of the event log.

Any event is accepted if its envelope is valid (:class:`lectern.contracts.EventEnvelope`),
so events other services publish are stored too. Events of a type this service knows
(:data:`lectern.contracts.EVENT_TYPES`) at the current schema version are also checked
against their model, because the projections read their fields.

Every valid event is stored faithfully (:func:`lectern.event_bounds.storable_event`):
NUL characters, which Postgres ``text`` and ``jsonb`` cannot hold, are escaped
reversibly (``nul_escaped: true``), and an event over
:data:`lectern.event_bounds.MAX_EVENT_BYTES` keeps bounded excerpts of its largest
fields (``truncated: true``, ``truncated_fields`` with the original sizes) instead of
being dead-lettered.

Cost (issue 13 section 5: every event of the drain goes through here): the body is
parsed by pydantic-core's JSON parser (about 3x faster than :func:`json.loads`), a
known event at the current schema version is validated once, by its own model (whose
envelope fields are those of :class:`~lectern.contracts.EventEnvelope`), and the payload
is serialised by pydantic-core. Bodies the fast parser refuses (NaN, lone surrogates...)
take the :mod:`json` path, so what is accepted, refused or stored never depends on
which parser read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import pydantic_core
from pydantic import ValidationError

from lectern.contracts import EVENT_TYPES, SCHEMA_VERSION, Event, EventEnvelope
from lectern.event_bounds import (
    MAX_EVENT_BYTES,
    NUL_FLAG,
    TRUNCATED_FIELDS,
    TRUNCATED_FLAG,
    EventTooLargeError,
    bound_event,
    escape_nul,
)
from lectern_session_logger.errors import InvalidEventError

ENVELOPE_FIELDS = frozenset(EventEnvelope.model_fields)
"""Fields stored in their own columns, hence left out of ``payload``."""

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Largest event body read (16 MiB, RabbitMQ 4's default ``max_message_size``); a larger
one is dead-lettered. Up to it, an event over :data:`MAX_EVENT_BYTES` is bounded."""

MARK_FIELDS = frozenset({NUL_FLAG, TRUNCATED_FLAG, TRUNCATED_FIELDS})
"""Fields added by :mod:`lectern.event_bounds`, not part of any event model."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of the ``events`` table.

    Attributes:
        payload: JSON text (object) of the event's fields other than the envelope.
        document_id: the event's ``document_id`` field when it is a string, else ``None``.
    """

    event_id: UUID
    occurred_at: datetime
    event_type: str
    schema_version: int
    correlation_id: str | None
    session_id: str | None
    document_id: str | None
    payload: str


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load(body: bytes) -> Any:
    """The JSON value of ``body``, as :func:`json.loads` without NaN/Infinity reads it.

    Raises:
        InvalidEventError: not JSON.
    """
    try:
        return pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError:
        pass  # the reference parser decides (and words the error)
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidEventError(f"event body is not JSON: {exc}") from exc


def _known_model(data: dict[str, Any]) -> type[Event] | None:
    """The model that alone validates ``data``, or ``None`` for the generic path.

    That is a known type at exactly :data:`SCHEMA_VERSION` with ``event_id`` and
    ``occurred_at`` present (the models would default them; the envelope requires them).
    """
    event_type = data.get("event_type")
    if type(event_type) is not str or "event_id" not in data or "occurred_at" not in data:
        return None
    version = data.get("schema_version", SCHEMA_VERSION)
    if type(version) is not int or version != SCHEMA_VERSION:
        return None
    return EVENT_TYPES.get(event_type)


def _validate(data: dict[str, Any]) -> tuple[UUID, datetime, int]:
    """Validate ``data``; return its ``event_id``, ``occurred_at`` and ``schema_version``.

    Raises:
        ValidationError: the envelope, or the known type's model, refuses it.
    """
    model = _known_model(data)
    if model is not None:
        fields = data if MARK_FIELDS.isdisjoint(data) else _without_marks(data)
        event = model.model_validate(fields)
        return event.event_id, event.occurred_at, SCHEMA_VERSION
    envelope = EventEnvelope.model_validate(data)
    _validate_known_type(envelope, data)
    return envelope.event_id, envelope.occurred_at, envelope.schema_version


def _without_marks(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in MARK_FIELDS}


def _validate_known_type(envelope: EventEnvelope, data: dict[str, Any]) -> None:
    model = EVENT_TYPES.get(envelope.event_type)
    if model is not None and envelope.schema_version == SCHEMA_VERSION:
        model.model_validate(_without_marks(data))


def _storable(body: bytes, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with NUL escaped and bounded to :data:`MAX_EVENT_BYTES` (cheap when fine)."""
    if b"\\u0000" in body:
        data = escape_nul(data)
    if len(body) > MAX_EVENT_BYTES:
        try:
            data = bound_event(data)
        except EventTooLargeError as exc:
            raise InvalidEventError(str(exc)) from exc
    return data


def _dump(payload: dict[str, Any]) -> str:
    """Compact JSON text of ``payload``, as ``json.dumps(ensure_ascii=False)`` writes it.

    Infinities are written as ``Infinity`` (which Postgres then refuses, isolating the
    event); text pydantic-core cannot encode (lone surrogates) goes through :mod:`json`.
    """
    try:
        return pydantic_core.to_json(payload, inf_nan_mode="constants").decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def parse_event(body: bytes) -> StoredEvent:
    """Validate a message body and return the row to store.

    Args:
        body: the AMQP message body, UTF-8 JSON of one event.

    Returns:
        The row; ``occurred_at`` keeps its instant (stored as ``timestamptz``).

    Raises:
        InvalidEventError: the body is over :data:`MAX_BODY_BYTES`, not a JSON
            object, has no valid envelope, or fails its known event model.
    """
    if len(body) > MAX_BODY_BYTES:
        raise InvalidEventError(f"event body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    data = _load(body)
    if not isinstance(data, dict):
        raise InvalidEventError("event body is not a JSON object")
    try:
        event_id, occurred_at, schema_version = _validate(data)
    except ValidationError as exc:
        raise InvalidEventError(f"invalid event: {exc}") from exc
    data = _storable(body, data)
    payload = {key: value for key, value in data.items() if key not in ENVELOPE_FIELDS}
    document_id = payload.get("document_id")
    return StoredEvent(
        event_id=event_id,
        occurred_at=occurred_at,
        event_type=str(data["event_type"]),
        schema_version=schema_version,
        correlation_id=_optional_text(data.get("correlation_id")),
        session_id=_optional_text(data.get("session_id")),
        document_id=document_id if isinstance(document_id, str) else None,
        payload=_dump(payload),
    )


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
