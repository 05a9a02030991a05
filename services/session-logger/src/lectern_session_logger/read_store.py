"""The reads served over RPC, from the event log and its projections.

Paged reads use keyset pagination; cursors are opaque URL-safe base64 strings.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from lectern.reads import (
    AnalyticsSummaryRequest,
    AnalyticsSummaryResponse,
    DocumentListRequest,
    DocumentListResponse,
    DocumentStatusRequest,
    DocumentStatusResponse,
    DocumentView,
    FeedbackSummary,
    LatencySummary,
    SessionHistoryRequest,
    SessionHistoryResponse,
    SessionInteraction,
)
from lectern_session_logger import queries
from lectern_session_logger.errors import InvalidRequestError, NotFoundError

MAX_FAILED_DOCUMENTS = 100
"""Failed documents listed in an analytics summary at most (newest first)."""

FEEDBACK_CLOCK_SKEW = timedelta(hours=1)
"""How much earlier than its answer a rating may be stamped and still count: both are
stamped by gateways, whose clocks may differ (generous; NTP keeps them within ms)."""

NO_UUID = UUID(int=0)
BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
"""Keyset start: before any stored event."""


def encode_cursor(*parts: str) -> str:
    """Join ``parts`` into an opaque cursor (URL-safe base64 of ``"|".join(parts)``)."""
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """Split a cursor made by :func:`encode_cursor` into ``parts`` strings.

    Raises:
        InvalidRequestError: the cursor is not one of ours.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequestError("malformed cursor") from exc
    values = text.split("|", parts - 1)
    if len(values) != parts:
        raise InvalidRequestError("malformed cursor")
    return values


def _session_cursor(after: str | None) -> tuple[datetime, UUID]:
    if after is None:
        return BEGINNING, NO_UUID
    occurred_at, event_id = decode_cursor(after, 2)
    try:
        at, event = datetime.fromisoformat(occurred_at), UUID(event_id)
    except ValueError as exc:
        raise InvalidRequestError("malformed cursor") from exc
    if at.tzinfo is None:
        raise InvalidRequestError("malformed cursor")
    return at, event


class ReadStore:
    """Runs the reads on an asyncpg pool.

    Args:
        pool: the service's pool; each read holds one connection for one statement.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ping(self, timeout: float = 1.0) -> bool:
        """Whether Postgres answers ``SELECT 1`` within ``timeout`` seconds."""
        try:
            async with self._pool.acquire(timeout=timeout) as connection:
                await connection.fetchval("SELECT 1", timeout=timeout)
        except Exception:
            return False
        return True

    async def session_history(self, request: SessionHistoryRequest) -> SessionHistoryResponse:
        """One page of a session's events, oldest first.

        Raises:
            NotFoundError: the log holds no event of this session, or the session is
                owned by another principal than ``request.principal`` (when set): the
                same answer, so a caller cannot tell the two apart. A session with no
                owner (only producers' events, which name no principal) is readable.
            InvalidRequestError: ``after`` is not a cursor of this read.
        """
        after_at, after_id = _session_cursor(request.after)
        rows = await self._pool.fetch(
            queries.SESSION_HISTORY,
            request.session_id,
            after_at,
            after_id,
            request.limit + 1,
            request.principal,
        )
        if not rows:
            raise NotFoundError(f"no session {request.session_id!r} in the event log")
        events = [row for row in rows if row["event_id"] is not None]
        page, more = events[: request.limit], len(events) > request.limit
        head = rows[0]
        last = page[-1] if page else None
        return SessionHistoryResponse(
            session_id=head["session_id"],
            first_seen_at=head["first_seen_at"],
            last_seen_at=head["last_seen_at"],
            search_count=head["search_count"],
            answer_count=head["answer_count"],
            event_count=head["event_count"],
            interactions=[
                SessionInteraction(
                    event_id=row["event_id"],
                    event_type=row["event_type"],
                    occurred_at=row["occurred_at"],
                    correlation_id=row["correlation_id"],
                    payload=row["payload"],
                )
                for row in page
            ],
            next_cursor=(
                encode_cursor(last["occurred_at"].isoformat(), str(last["event_id"]))
                if more and last is not None
                else None
            ),
        )

    async def document_status(self, request: DocumentStatusRequest) -> DocumentStatusResponse:
        """One document's latest state.

        Raises:
            NotFoundError: no event ever named this document (or retention removed it).
        """
        row = await self._pool.fetchrow(
            queries.DOCUMENT_STATUS, request.document_id, request.collection
        )
        if row is None:
            raise NotFoundError(
                f"no document {request.document_id!r} in collection {request.collection!r}"
            )
        return DocumentStatusResponse(document=DocumentView(**dict(row)))

    async def document_list(self, request: DocumentListRequest) -> DocumentListResponse:
        """One page of documents by collection and id, optionally with one status.

        Raises:
            InvalidRequestError: ``after`` is not a cursor of this read.
        """
        collection, after = decode_cursor(request.after, 2) if request.after else ("", "")
        args = (collection, request.limit + 1, request.collections, after)
        if request.status is None:
            rows = await self._pool.fetch(queries.DOCUMENT_LIST, *args)
        else:
            rows = await self._pool.fetch(queries.DOCUMENT_LIST_BY_STATUS, *args, request.status)
        page = [DocumentView(**dict(row)) for row in rows[: request.limit]]
        more = len(rows) > request.limit
        last = page[-1] if more and page else None
        return DocumentListResponse(
            documents=page,
            next_cursor=encode_cursor(last.collection, last.document_id) if last else None,
        )

    async def analytics_summary(self, request: AnalyticsSummaryRequest) -> AnalyticsSummaryResponse:
        """Usage over ``[since, until)``: counts, zero-hit rate, latencies, top queries."""
        row = await self._pool.fetchrow(
            queries.ANALYTICS_SUMMARY,
            request.since,
            request.until,
            request.top_n,
            MAX_FAILED_DOCUMENTS,
            request.collections,
        )
        assert row is not None  # aggregates always return one row
        summary = _analytics_response(request, dict(row))
        return summary.model_copy(update={"feedback": await self.feedback_summary(request)})

    async def feedback_summary(self, request: AnalyticsSummaryRequest) -> FeedbackSummary:
        """Ratings of the answers given in ``[since, until)``; see :class:`FeedbackSummary`.

        Lists at most ``top_n`` rated-down answers, newest rating first.
        """
        row = await self._pool.fetchrow(
            queries.FEEDBACK_SUMMARY,
            request.since,
            request.until,
            request.top_n,
            FEEDBACK_CLOCK_SKEW,
            request.collections,
        )
        assert row is not None  # aggregates always return one row
        answers, rated, down = (
            int(row["answers"]),
            int(row["rated_answers"]),
            int(row["rated_down"]),
        )
        return FeedbackSummary(
            answers=answers,
            rated_answers=rated,
            rated_up=int(row["rated_up"]),
            rated_down=down,
            down_share=down / answers if answers else None,
            down_share_of_rated=down / rated if rated else None,
            orphaned=int(row["orphaned"]),
            rated_down_answers=row["rated_down_answers"],
        )


def _analytics_response(
    request: AnalyticsSummaryRequest, row: dict[str, Any]
) -> AnalyticsSummaryResponse:
    searches = int(row["searches"])
    return AnalyticsSummaryResponse(
        since=request.since,
        until=request.until,
        searches=searches,
        answers=int(row["answers"]),
        zero_hit_rate=(int(row["zero_hit_searches"]) / searches) if searches else None,
        search_latency=LatencySummary(p50_ms=row["search_p50"], p95_ms=row["search_p95"]),
        answer_latency=LatencySummary(p50_ms=row["answer_p50"], p95_ms=row["answer_p95"]),
        per_day=row["per_day"],
        top_queries=row["top_queries"],
        failed_documents=row["failed_documents"],
    )
