"""Reads served by the session-logger: sessions and analytics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from lectern.contracts import COLLECTION_PATTERN
from lectern.reads import (
    AnalyticsSummaryResponse,
    SessionHistoryResponse,
)
from lectern_gateway import reads
from lectern_gateway.backends import Backends
from lectern_gateway.errors import InvalidInputError

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
"""Cursors are unpadded URL-safe base64; anything else is refused here with a 400."""
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size")]
After = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=512,
        pattern=CURSOR_PATTERN,
        description="next_cursor of the last page (URL-safe base64)",
    ),
]
CollectionParam = Annotated[
    str | None,
    QueryParameter(
        description="the document's collection (default: `default`)",
        pattern=COLLECTION_PATTERN,
    ),
]
CollectionsParam = Annotated[
    list[str] | None,
    QueryParameter(
        description="collections to cover (repeat the parameter); default: every "
        "collection the key may use",
        max_items=100,
        schema_extra={"items": {"type": "string", "pattern": COLLECTION_PATTERN}},
    ),
]
Instant = Annotated[
    str | None,
    QueryParameter(
        description="ISO 8601 date-time with a timezone", schema_extra={"format": "date-time"}
    ),
]


def parse_instant(name: str, value: str | None) -> datetime | None:
    """Parse an ISO 8601 date-time with a timezone (a number is not a time).

    Raises:
        InvalidInputError: not ISO 8601, or without a timezone (400).
    """
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not an ISO 8601 date-time") from exc
    if instant.tzinfo is None:
        raise InvalidInputError(f"{name} needs a timezone (Z or +HH:MM)")
    return instant


class SessionController(Controller):
    """A session's history of searches and answers."""

    path = "/sessions"
    tags = ["sessions"]
    opt = {"scope": "read"}

    @get("/{session_id:str}", summary="A session's interactions")
    async def session_history(
        self,
        session_id: Annotated[str, PathParameter(min_length=1, max_length=128)],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
        limit: Limit = 100,
        after: After = None,
    ) -> SessionHistoryResponse:
        """The session's interactions, oldest first, one page."""
        return await reads.session_history(
            backends, session_id, request.state.request_id, limit=limit, after=after
        )


class AnalyticsController(Controller):
    """Usage analytics over a time window."""

    path = "/analytics"
    tags = ["analytics"]
    opt = {"scope": "admin"}

    @get("/summary", summary="Usage summary")
    async def summary(
        self,
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
        since: Instant = None,
        until: Instant = None,
        top_n: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        collection: CollectionsParam = None,
    ) -> AnalyticsSummaryResponse:
        """Queries per day, zero-hit rate, latency p50/p95, top queries, failed documents.

        ``since``/``until`` are ISO 8601 with a timezone; the default is the last 7 days.
        """
        return await reads.analytics_summary(
            backends,
            request.state.request_id,
            since=parse_instant("since", since),
            until=parse_instant("until", until),
            top_n=top_n,
            collections=collection,
        )
