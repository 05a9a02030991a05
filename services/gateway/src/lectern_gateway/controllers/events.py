"""``POST /v1/events`` (producers' own events) and ``/schemas/{name}.json`` (their schemas)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_202_ACCEPTED
from pydantic import Field, RootModel, WithJsonSchema, model_validator

from lectern.contracts import EventEnvelope
from lectern.message_schemas import (
    PRODUCER_EVENT_TYPE_PATTERN,
    PRODUCER_MODELS,
    message_schema,
)
from lectern_gateway import producer_events
from lectern_gateway.backends import Backends
from lectern_gateway.errors import NotFoundError
from lectern_gateway.producer_events import MAX_BATCH_EVENTS, EventsAcceptedBody


def _producer_envelope_schema() -> dict[str, Any]:
    """The envelope's JSON Schema with the event types a producer may use."""
    schema = EventEnvelope.model_json_schema()
    event_type = schema["properties"]["event_type"]
    schema["properties"]["event_type"] = {**event_type, "pattern": PRODUCER_EVENT_TYPE_PATTERN}
    return schema


EventBatch = Annotated[
    list[dict[str, Any]],
    Field(min_length=1, max_length=MAX_BATCH_EVENTS),
    WithJsonSchema(
        {
            "type": "array",
            "items": _producer_envelope_schema(),
            "minItems": 1,
            "maxItems": MAX_BATCH_EVENTS,
        }
    ),
]


class EventsBody(RootModel[EventBatch]):
    """A list of 1 to 100 events in the generic envelope; one bare event is a list of one.

    Each item is validated as an :class:`~lectern.contracts.EventEnvelope` by
    :func:`~lectern_gateway.producer_events.parse_events`.
    """

    @model_validator(mode="before")
    @classmethod
    def _one_is_a_batch(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


SCHEMAS = {f"{name}.json": message_schema(name) for name in PRODUCER_MODELS}


class EventController(Controller):
    """Events other services publish over HTTP instead of AMQP."""

    path = "/events"
    tags = ["events"]
    opt = {"scope": "write"}

    @post("/", status_code=HTTP_202_ACCEPTED, summary="Publish events of your own")
    async def publish_events(
        self,
        data: JSONBody[EventsBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> EventsAcceptedBody:
        """Publish one event or a batch (at most 100) on ``lectern.events``.

        Answers ``202`` once the broker confirmed every event; ``400`` with one entry
        per refused event (nothing published); ``503`` when the broker did not confirm.
        Types under ``document.``, ``search.`` and ``answer.`` are Lectern's own: refused.
        """
        events = producer_events.parse_events(data.root)
        return await producer_events.publish_events(backends, events, request.state.request_id)


@get("/schemas/{file_name:str}", summary="JSON Schema of a producer message", tags=["schema"])
async def message_schema_document(
    file_name: Annotated[str, PathParameter(max_length=64)],
) -> dict[str, Any]:
    """``ingest-document.json``, ``delete-document.json`` or ``event-envelope.json``.

    Public on purpose, like ``/asyncapi.json``: schemas hold no data.

    Raises:
        NotFoundError: (404) no such schema.
    """
    schema = SCHEMAS.get(file_name)
    if schema is None:
        raise NotFoundError(f"no schema {file_name!r}; see /asyncapi.json")
    return schema
