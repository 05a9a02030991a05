"""Reads served by the session-logger: sessions and analytics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, PathParameter, QueryParameter

from lectern.reads import (
    AnalyticsSummaryResponse,
    SessionHistoryResponse,
)
from lectern_gateway import reads
from lectern_gateway.backends import Backends

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="page size")]
After = Annotated[
    str | None, QueryParameter(max_length=512, description="next_cursor of the last page")
]


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
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        top_n: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    ) -> AnalyticsSummaryResponse:
        """Queries per day, zero-hit rate, latency p50/p95, top queries, failed documents.

        ``since``/``until`` are ISO 8601 with a timezone; the default is the last 7 days.
        """
        return await reads.analytics_summary(
            backends, request.state.request_id, since=since, until=until, top_n=top_n
        )
