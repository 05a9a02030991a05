"""What the OpenAPI document says beyond the handlers: security schemes, problem responses.

Every operation lists the problems it can answer (``application/problem+json`` with the
:class:`~lectern_gateway.schemas.Problem` schema), derived once from each handler's
shape, so a new route is documented the same way without repeating the list.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin  # serves the cached document
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.routes import HTTPRoute
from pydantic import BaseModel

from lectern_gateway.errors import PROBLEM_MEDIA_TYPE
from lectern_gateway.schemas import Problem, ReadinessBody

SECURITY_SCHEMES = Components(
    security_schemes={
        "apiKey": SecurityScheme(
            type="apiKey",
            name="X-API-Key",
            security_scheme_in="header",
            description="an API key (from API_KEYS_FILE or API_KEYS)",
        ),
        "bearer": SecurityScheme(
            type="http", scheme="bearer", description="an API key as a bearer token"
        ),
    }
)
API_KEY_SECURITY: list[SecurityRequirement] = [{"apiKey": []}, {"bearer": []}]
"""Either scheme authorises a request under ``/v1`` (when any key is configured)."""

PROBLEM_DESCRIPTIONS = {
    400: "Invalid input: a parameter or the body breaks the contract",
    401: "Missing or unknown API key",
    403: "The key lacks the scope or the collection this operation needs",
    404: "No such resource (or collection)",
    409: "Conflicts with the current state (the collection exists, or is default)",
    408: "The request body did not arrive within BODY_READ_TIMEOUT_S",
    413: "Body over MAX_BODY_BYTES or content over MAX_DOCUMENT_BYTES",
    415: "Body is not application/json (or the upload's format is unknown)",
    429: "Over RATE_LIMIT_PER_MINUTE",
    500: "Unexpected error (logged with the request id)",
    503: "A backing service or the broker is unavailable (see Retry-After)",
    504: "A backing service did not answer in time",
}
SUCCESS_OVERRIDES = {
    "/metrics": {
        200: ResponseSpec(
            data_container=str,
            media_type="text/plain",
            description="Prometheus text exposition format 0.0.4",
            generate_examples=False,
        )
    },
    "/health/ready": {
        503: ResponseSpec(
            data_container=ReadinessBody,
            description="Not ready: each check's state (see Retry-After)",
            generate_examples=False,
        )
    },
}
"""Responses Litestar cannot infer: ``/metrics`` answers text, a failed readiness
check answers its report, not a problem."""
_UNLIMITED_PREFIXES = ("/health", "/schema", "/metrics")
"""Paths the rate limiter skips (as configured in ``create_app``)."""


def problem_statuses(path: str, handler: HTTPRouteHandler) -> set[int]:
    """Return the error statuses an operation can answer.

    Args:
        path: the route's path format, e.g. ``/v1/documents/{document_id}``.
        handler: the operation's handler.
    """
    statuses = {500}
    if not path.startswith(_UNLIMITED_PREFIXES):
        statuses.add(429)
    if path.startswith("/v1"):
        statuses |= {400, 503, 504}
    if "{" in path:
        statuses |= {400, 404}
    if "data" in handler.parsed_fn_signature.parameters:
        statuses |= {400, 408, 413, 415}
    if handler.resolve_guards():
        statuses |= {401, 403}
    if path.startswith("/v1/collections"):
        statuses.add(409)
    if path.startswith("/v1/documents"):
        statuses.add(404)  # an unknown collection
    if path == "/health/ready":
        statuses.add(503)
    return statuses


def document_problem_responses(app: Litestar) -> None:
    """Add the problem responses of :func:`problem_statuses` to every operation.

    Responses a handler declares itself are kept. Call once, before the schema is built.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            declared = dict(handler.responses or {})
            problems = {
                status: ResponseSpec(
                    data_container=Problem,
                    media_type=PROBLEM_MEDIA_TYPE,
                    description=PROBLEM_DESCRIPTIONS[status],
                    generate_examples=False,
                )
                for status in sorted(problem_statuses(route.path_format, handler))
            }
            overrides = SUCCESS_OVERRIDES.get(route.path_format, {})
            handler.responses = problems | overrides | declared


def use_pydantic_request_schemas(app: Litestar) -> None:
    """Describe request bodies with pydantic's own JSON Schema (OpenAPI 3.1 is JSON Schema).

    Litestar's rendering of pydantic models drops ``extra="forbid"``
    (``additionalProperties: false``), key patterns and ``maxItems``/``maxProperties``,
    and renders a ``dict`` field with a default factory as an array; pydantic's schema
    is the one the gateway validates with. Call after :func:`document_problem_responses`;
    it builds the document once and rewrites the body models' components in place.
    """
    document = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            data = handler.parsed_fn_signature.parameters.get("data")
            model = data.annotation if data is not None else None
            if isinstance(model, type) and issubclass(model, BaseModel):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(schema.pop("$defs", {}))
                components[model.__name__] = schema


EVENT_STREAM_OPERATIONS = {
    ("/v1/answers", "post"): "with stream=true or Accept: text/event-stream: server-sent "
    "events retrieval, token, citations, done (and error)",
    ("/v1/chat/completions", "post"): "with stream=true: chat.completion.chunk events, "
    "then data: [DONE]",
}
"""Operations that may answer ``text/event-stream`` as well as JSON, and how.

Each server-sent event is described as an object of its fields (``event``, ``data``...),
the way OpenAPI 3.1 tools read an event stream."""


def document_event_streams(app: Litestar) -> None:
    """Add the ``text/event-stream`` content of the streaming operations' ``200``.

    Call after :func:`use_pydantic_request_schemas` (it edits the same built document).
    """
    document = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    for (path, method), description in EVENT_STREAM_OPERATIONS.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        ok = operation.setdefault("responses", {}).setdefault("200", {"description": "OK"})
        ok.setdefault("content", {})["text/event-stream"] = {
            "schema": {
                "type": "object",
                "description": description,
                "properties": {
                    "event": {"type": "string"},
                    "data": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer"},
                },
            }
        }
