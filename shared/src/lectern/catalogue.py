"""The event catalogue as an AsyncAPI 3.0 document, generated from the contracts.

Every command and event of :mod:`lectern.contracts` is described as a publication on its
exchange and routing key, with the pydantic model as its payload schema, so the
catalogue never drifts from the code. The gateway serves it at
``/asyncapi.json``; ``make asyncapi`` writes it to ``docs/asyncapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI

from lectern import topology
from lectern.contracts import EVENT_TYPES, DeleteDocument, IngestDocument

CATALOGUE_TITLE = "Lectern event catalogue"


def build_catalogue(version: str = "1") -> dict[str, Any]:
    """Return the AsyncAPI document (a JSON-ready dict) of every command and event.

    Nothing connects: the broker is only a description holder.
    """
    broker = RabbitBroker(
        specification_url="amqp://rabbitmq:5672/",
        description="RabbitMQ topology of Lectern (lectern.topology)",
    )
    for command in (IngestDocument, DeleteDocument):
        broker.publisher(
            exchange=topology.commands_exchange,
            routing_key=command.ROUTING_KEY,
            title=f"{topology.COMMANDS_EXCHANGE_NAME}:{command.ROUTING_KEY}",
            description=(command.__doc__ or "").strip().splitlines()[0],
            schema=command,
            persist=True,
        )
    for event_type, event in sorted(EVENT_TYPES.items()):
        broker.publisher(
            exchange=topology.events_exchange,
            routing_key=event_type,
            title=f"{topology.EVENTS_EXCHANGE_NAME}:{event_type}",
            description=(event.__doc__ or "").strip().splitlines()[0],
            schema=event,
            persist=True,
        )
    document = AsyncAPI(
        broker,
        title=CATALOGUE_TITLE,
        version=version,
        description="Commands (imperative) and events (past tense) that cross RabbitMQ.",
    )
    jsonable: dict[str, Any] = json.loads(document.to_specification().to_json())
    return _sorted_sections(jsonable)


def _sorted_sections(document: dict[str, Any]) -> dict[str, Any]:
    """Order channels, operations and components by name.

    FastStream emits them in publisher-registration order, which is not stable across
    runs; sorting keeps ``docs/asyncapi.json`` diffs to what changed.
    """
    for section in ("channels", "operations"):
        if section in document:
            document[section] = dict(sorted(document[section].items()))
    for part, entries in (document.get("components") or {}).items():
        document["components"][part] = dict(sorted(entries.items()))
    return document
