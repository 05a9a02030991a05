"""Service layer for search: one RPC to the indexer, then a ``SearchCompleted`` event."""

from __future__ import annotations

import time

from lectern.contracts import SearchCompleted, SearchRequest, SearchResponse
from lectern.logging import get_logger
from lectern_gateway.auth import request_access
from lectern_gateway.backends import Backends
from lectern_gateway.collections.access import read_collections
from lectern_gateway.schemas import SearchBody, SearchResultBody

log = get_logger(__name__)


async def search(backends: Backends, body: SearchBody, request_id: str) -> SearchResultBody:
    """Run a search through the indexer and record it.

    Returns:
        The hits (best first) and the gateway-side latency in milliseconds.

    The ``SearchCompleted`` event is confirmed within what is left of
    ``SEARCH_TIMEOUT_S`` or else republished in the background: a completed search
    never answers ``503`` because of its event.

    Raises:
        ForbiddenError: ``collections`` names one the key may not use (403).
        ServiceUnavailableError: broker or indexer unavailable (503).
        UpstreamTimeoutError: no answer within ``SEARCH_TIMEOUT_S`` (504).
    """
    started = time.perf_counter()
    collections = read_collections(body.collections)
    request = SearchRequest(
        correlation_id=request_id,
        collections=collections,
        query=body.query,
        top_k=body.top_k,
        mode=body.mode,
        filter=body.filter,
        fusion=body.fusion,
        explain=body.explain,
    )
    response = await backends.call(
        "indexer", request, SearchResponse, timeout=backends.settings.search_timeout_s
    )
    latency_ms = (time.perf_counter() - started) * 1000
    access = request_access()
    event = SearchCompleted(
        correlation_id=request_id,
        session_id=access.session_for(body.session_id),
        principal=access.principal.id,
        query=body.query,
        mode=body.mode,
        top_k=body.top_k,
        hit_count=len(response.hits),
        latency_ms=latency_ms,
        chunk_ids=[hit.chunk_id for hit in response.hits],
        document_ids=[hit.document_id for hit in response.hits],
        collections=collections or [],
    )
    # The result is computed: its event never fails the search (see background_events).
    remaining_s = backends.settings.search_timeout_s - (time.perf_counter() - started)
    await backends.record_event(event, budget_s=remaining_s)
    return SearchResultBody(
        query=body.query,
        mode=body.mode,
        hits=response.hits,
        latency_ms=round(latency_ms, 2),
        request_id=request_id,
    )
