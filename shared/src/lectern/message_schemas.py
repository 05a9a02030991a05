"""JSON Schemas of what other services publish to Lectern, generated from the contracts.

A producer (a docs site's CI, a support tool) publishes ``IngestDocument`` and
``DeleteDocument`` on ``lectern.commands`` and events of its own in the generic envelope
(:class:`lectern.contracts.EventEnvelope`) on ``lectern.events``. Their JSON Schemas
(draft 2020-12, pydantic's validation mode) are generated here from the pydantic models,
so they never drift from the code; the gateway serves them at ``/schemas/{name}.json``.

Event types under :data:`RESERVED_EVENT_PREFIXES` are facts only Lectern states
(``document.indexed``, ``search.completed``...): a producer may not publish them. The
rule is enforced twice: by ``POST /v1/events`` and by the broker's topic permissions of
the ``producer`` user (``deploy/rabbitmq/definitions.json``).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from lectern.contracts import DeleteDocument, EventEnvelope, IngestDocument

SCHEMA_BASE_URL = "https://lectern.dev/schemas/"
"""Base of each schema's ``$id``."""

PRODUCER_MODELS: dict[str, type[BaseModel]] = {
    "ingest-document": IngestDocument,
    "delete-document": DeleteDocument,
    "event-envelope": EventEnvelope,
}
"""The models a producer publishes, by schema name (``/schemas/<name>.json``)."""

RESERVED_EVENT_PREFIXES: tuple[str, ...] = ("document.", "search.", "answer.", "feedback.")
"""Event-type prefixes of Lectern's own facts; producers may not publish them."""

FOREIGN_EVENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
"""Shape of a producer's event type: two or more lower-case dot-separated words
(``support.ticket.closed``), usable as a topic routing key as it is."""

PRODUCER_EVENT_TYPE_PATTERN = (
    "^(?!(?:"
    + "|".join(re.escape(prefix) for prefix in RESERVED_EVENT_PREFIXES)
    + "))"
    + FOREIGN_EVENT_TYPE.pattern.removeprefix("^")
)
"""JSON Schema ``pattern`` of a producer's event type: :data:`FOREIGN_EVENT_TYPE`, not
under :data:`RESERVED_EVENT_PREFIXES` (a negative lookahead, valid in ECMA 262 regexes)."""


def message_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema of one producer message.

    Args:
        name: a key of :data:`PRODUCER_MODELS` (``ingest-document``, ``delete-document``,
            ``event-envelope``).

    Returns:
        A JSON-ready dict (JSON Schema draft 2020-12) with ``$schema``, ``$id`` and the
        model's docstring as ``description``.

    Raises:
        KeyError: ``name`` is not a producer message.
    """
    model = PRODUCER_MODELS[name]
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URL}{name}.json",
        **schema,
    }


def is_reserved_event_type(event_type: str) -> bool:
    """Whether ``event_type`` names one of Lectern's own facts (see the module doc)."""
    return event_type.startswith(RESERVED_EVENT_PREFIXES)
