"""The gateway's exception hierarchy and its one mapping to RFC 9457 problem details.

Every error response is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, ``instance`` (the request path) and ``request_id``.
"""

from __future__ import annotations

from typing import Any

import pydantic
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from lectern.logging import get_logger
from lectern_gateway.middleware import ensure_request_id

log = get_logger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://lectern.dev/problems/"
INTERNAL_DETAIL = "An unexpected error occurred; it was logged with this request id."
"""``detail`` of every 5xx whose cause is ours: exception text only goes to the log."""


class GatewayError(Exception):
    """Base of the gateway's domain errors; subclasses fix status, title and type."""

    status = 500
    title = "Internal error"
    type_ = "internal"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class InvalidInputError(GatewayError):
    """The request is well-formed JSON but its content cannot be accepted (400)."""

    status, title, type_ = 400, "Invalid input", "invalid-input"


class PayloadTooLargeError(GatewayError):
    """The document is larger than ``MAX_DOCUMENT_BYTES`` (413)."""

    status, title, type_ = 413, "Payload too large", "payload-too-large"


class UnsupportedFormatError(GatewayError):
    """The uploaded document's format is not Markdown, HTML or plain text (415)."""

    status, title, type_ = 415, "Unsupported media type", "unsupported-format"


class UnsupportedMediaTypeError(GatewayError):
    """A JSON route got a body whose ``Content-Type`` is not JSON (415)."""

    status, title, type_ = 415, "Unsupported media type", "unsupported-media-type"


class RequestTimeoutError(GatewayError):
    """The client sent less body than announced within ``BODY_READ_TIMEOUT_S`` (408).

    The connection is closed after the answer (``Connection: close``): the rest of the
    body, if it ever comes, cannot be told apart from a next request.
    """

    status, title, type_ = 408, "Request timeout", "request-timeout"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Connection": "close"})


class NotFoundError(GatewayError):
    """The addressed resource does not exist (404)."""

    status, title, type_ = 404, "Not found", "not-found"


class ForbiddenError(GatewayError):
    """The key may not use the collection the request names (403)."""

    status, title, type_ = 403, "Forbidden", "forbidden"


class ConflictError(GatewayError):
    """The request conflicts with the current state, e.g. the collection exists (409)."""

    status, title, type_ = 409, "Conflict", "conflict"


class ServiceUnavailableError(GatewayError):
    """A backing service or the broker is unavailable (503, with ``Retry-After``)."""

    status, title, type_ = 503, "Service unavailable", "service-unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class UpstreamTimeoutError(GatewayError):
    """A backing service did not answer within the request's timeout (504)."""

    status, title, type_ = 504, "Upstream timeout", "upstream-timeout"


def problem(
    request: Request[Any, Any, Any],
    *,
    status: int,
    title: str,
    type_: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    """Build an RFC 9457 problem-details response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": ensure_request_id(request.scope),
    }
    body.update(extra or {})
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def handle_gateway_error(request: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    """Map a :class:`GatewayError` to its problem response."""
    return problem(
        request,
        status=exc.status,
        title=exc.title,
        type_=exc.type_,
        detail=exc.detail,
        headers=exc.headers,
    )


HTTP_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "http-400"),
    401: ("Unauthorized", "unauthorized"),
    403: ("Forbidden", ForbiddenError.type_),
    404: ("Not found", NotFoundError.type_),
    405: ("Method not allowed", "http-405"),
}
"""Title and problem type of Litestar's own HTTP errors by status, so a guard's 403 has
the same problem type as :class:`ForbiddenError` (and a 404 as :class:`NotFoundError`)."""


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Map Litestar's own HTTP errors (validation, 404, 405, 413...) to problems."""
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    title, type_ = HTTP_PROBLEMS.get(exc.status_code, (str(exc.detail), f"http-{exc.status_code}"))
    if isinstance(exc, ValidationException):
        type_ = "validation"
    detail = str(exc.detail)
    if exc.status_code >= 500:
        log.error("gateway.http_error", status=exc.status_code, detail=detail)
        detail = INTERNAL_DETAIL
    return problem(
        request,
        status=exc.status_code,
        title=title,
        type_=type_,
        detail=detail,
        headers=dict(exc.headers or {}),
        extra=extra,
    )


def handle_unicode_error(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    """Answer 400 for a body that is not valid UTF-8 (it is never stored or forwarded)."""
    return problem(
        request,
        status=400,
        title="Bad request",
        type_="invalid-encoding",
        detail=f"request body is not valid UTF-8 (byte {exc.start})",
    )


def handle_pydantic_error(
    request: Request[Any, Any, Any], exc: pydantic.ValidationError
) -> Response[Any]:
    """Answer 400 for parameters that pass HTTP parsing but not a contract's rules."""
    errors = [
        {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in exc.errors()
    ]
    return problem(
        request,
        status=400,
        title="Bad request",
        type_="validation",
        detail="; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in errors
        ),
        extra={"errors": errors},
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Log an unexpected exception with its traceback and answer a bare 500 problem."""
    log.exception("gateway.unhandled_error", path=request.url.path, exc_info=exc)
    return problem(
        request,
        status=500,
        title="Internal error",
        type_="internal",
        detail=INTERNAL_DETAIL,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    GatewayError: handle_gateway_error,
    HTTPException: handle_http_exception,
    UnicodeDecodeError: handle_unicode_error,
    pydantic.ValidationError: handle_pydantic_error,
    Exception: handle_unexpected,
}
