"""Decode command and RPC bodies from raw AMQP bytes, classifying what is invalid."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from lectern.contracts import (
    COLLECTION_PATTERN,
    DEFAULT_COLLECTION,
    CollectionRequest,
    DeleteDocument,
    IngestDocument,
    PingRequest,
    SearchRequest,
    SentenceScoreRequest,
)
from lectern_indexer.errors import InvalidDocumentError, InvalidRequestError

Command = IngestDocument | DeleteDocument
AnyRpcRequest = SearchRequest | SentenceScoreRequest | PingRequest | CollectionRequest
RpcRequest = Annotated[AnyRpcRequest, Field(discriminator="kind")]

_RPC_ADAPTER: TypeAdapter[AnyRpcRequest] = TypeAdapter(RpcRequest)
_COMMANDS: dict[str, type[Command]] = {
    IngestDocument.ROUTING_KEY: IngestDocument,
    DeleteDocument.ROUTING_KEY: DeleteDocument,
}
UNKNOWN_DOCUMENT = "unknown"
"""``document_id`` of failure events for commands whose id cannot be read."""


class InvalidCommandError(InvalidDocumentError):
    """A command body that can never be processed.

    Attributes:
        document_id: the id read from the body, or :data:`UNKNOWN_DOCUMENT`.
        version: the version read from the body, if any.
        correlation_id: the correlation id read from the body, if any.
        collection: the body's collection when it is a valid name, else ``default``.
    """

    def __init__(
        self,
        reason: str,
        document_id: str,
        version: str | None,
        correlation_id: str | None,
        collection: str = DEFAULT_COLLECTION,
    ) -> None:
        super().__init__(reason)
        self.collection = collection
        self.document_id = document_id
        self.version = version
        self.correlation_id = correlation_id


def parse_command(body: bytes, routing_key: str | None, max_body_bytes: int) -> Command:
    """Decode a command body.

    Args:
        body: the raw AMQP body (JSON, UTF-8).
        routing_key: ``document.ingest`` or ``document.delete``; other values (a message
            back from a retry queue) fall back to the body's shape.
        max_body_bytes: bodies larger than this are refused before decoding.

    Returns:
        The validated command.

    Raises:
        InvalidCommandError: too large, not UTF-8, not JSON, or not a valid command.
    """
    if len(body) > max_body_bytes:
        raise InvalidCommandError(
            f"message is {len(body)} bytes, over the limit of {max_body_bytes} bytes",
            UNKNOWN_DOCUMENT,
            None,
            None,
        )
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidCommandError(
            f"message body is not valid UTF-8 ({exc.reason} at byte {exc.start})",
            UNKNOWN_DOCUMENT,
            None,
            None,
        ) from exc
    except json.JSONDecodeError as exc:
        raise InvalidCommandError(
            f"message body is not JSON: {exc}", UNKNOWN_DOCUMENT, None, None
        ) from exc
    fields = data if isinstance(data, dict) else {}
    document_id, version, correlation_id = (
        _str_or_none(fields.get(key)) for key in ("document_id", "version", "correlation_id")
    )
    model = _COMMANDS.get(routing_key or "") or (
        IngestDocument if "content" in fields or "format" in fields else DeleteDocument
    )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidCommandError(
            f"invalid {model.__name__}: {_summary(exc)}",
            (document_id or UNKNOWN_DOCUMENT)[:256],
            version,
            (correlation_id or "")[:128] or None,
            _collection_or_default(fields.get("collection")),
        ) from exc


def parse_rpc(body: bytes) -> AnyRpcRequest:
    """Decode an RPC body (``kind``: ``search``, ``score_sentences``, ``ping``, ``collection``).

    Raises:
        InvalidRequestError: not JSON or not a valid request.
    """
    try:
        return _RPC_ADAPTER.validate_json(body)
    except ValidationError as exc:
        raise InvalidRequestError(_summary(exc)) from exc


def _summary(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:limit]:
        location = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _collection_or_default(value: Any) -> str:
    return value if isinstance(value, str) and re.match(COLLECTION_PATTERN, value) else "default"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
