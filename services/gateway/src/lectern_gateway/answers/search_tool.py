"""The agent's ``search`` tool: its schema, its arguments, and the searches it runs.

:func:`search_request` is the one place an answer's searches are built, for the
question's own retrieval and for every tool call alike.
"""

from __future__ import annotations

import json
import time

from openai.types.chat import ChatCompletionToolParam
from pydantic import ValidationError

from lectern.contracts import AnswerStep, MetadataFilter, SearchHit, SearchRequest, SearchResponse
from lectern_gateway.backends import Backends
from lectern_gateway.collections.access import read_collections
from lectern_gateway.errors import GatewayError, ServiceUnavailableError, UpstreamTimeoutError
from lectern_gateway.schemas import SearchFilter

SEARCH_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the document index; returns numbered chunks to cite.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "what to look for"},
                "filter": {
                    "type": "object",
                    "description": "only chunks of these documents, sources or metadata",
                    "properties": {
                        "document_ids": {"type": "array", "items": {"type": "string"}},
                        "sources": {"type": "array", "items": {"type": "string"}},
                        "metadata": {"type": "object"},
                    },
                },
                "collections": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["query"],
        },
    },
}


def search_request(
    request_id: str,
    query: str,
    top_k: int,
    filter: MetadataFilter | None,
    collections: list[str] | None,
) -> SearchRequest:
    """The one place an answer's searches are built (the question's and the agent's).

    ``collections``: the names asked for (``None`` or ``*``: every collection the key
    may read), checked against the request's key.

    Raises:
        ForbiddenError: a named collection is not one the key may use (403).
    """
    return SearchRequest(
        correlation_id=request_id,
        query=query,
        top_k=top_k,
        filter=filter,
        collections=read_collections(collections),
    )


def parse_search_arguments(arguments: str) -> tuple[str, MetadataFilter | None, list[str] | None]:
    """The ``search`` tool's JSON arguments as ``(query, filter, collections)``.

    Raises:
        ValueError: not a JSON object, no non-blank ``query`` of at most 4096 characters,
            or an invalid ``filter`` / ``collections``.
    """
    try:
        values = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError("arguments are not JSON") from exc
    if not isinstance(values, dict):
        raise ValueError("arguments are not an object")
    query = values.get("query")
    if not isinstance(query, str) or not query.strip() or len(query) > 4096:
        raise ValueError("query missing, blank or too long")
    collections = values.get("collections")
    if collections is not None and not (
        isinstance(collections, list) and all(isinstance(c, str) for c in collections)
    ):
        raise ValueError("collections is not a list of names")
    raw_filter = values.get("filter")
    try:
        found = SearchFilter.model_validate(raw_filter) if raw_filter else None
    except ValidationError as exc:
        raise ValueError("invalid filter") from exc
    return query.strip(), found, collections or None


async def run_search(
    backends: Backends, request: SearchRequest
) -> tuple[list[SearchHit], AnswerStep]:
    """Search for a tool call; a failure is an empty step with its ``error``, never raised."""
    started = time.perf_counter()
    hits: list[SearchHit] = []
    error = None
    try:
        reply = await backends.call(
            "indexer", request, SearchResponse, timeout=backends.settings.search_timeout_s
        )
        hits = reply.hits
    except ServiceUnavailableError:
        error = "indexer_unavailable"
    except UpstreamTimeoutError:
        error = "indexer_timeout"
    except GatewayError:
        error = "search_failed"
    step = AnswerStep(
        query=request.query,
        filter=request.filter,
        chunk_ids=[h.chunk_id for h in hits],
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        error=error,
    )
    return hits, step
