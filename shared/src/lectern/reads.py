"""RPC read contracts of the session-logger (queue ``session-logger.rpc``).

Every request is a :class:`lectern.contracts.Message` with a ``kind`` discriminator;
:data:`ReadRequest` parses any of them. Every reply carries the same ``kind``; a request
that cannot be served is answered with :class:`lectern.contracts.RpcError` (``kind``
``"error"``: 400 invalid request, 404 unknown id, 503 store unavailable).

| ``kind`` | request | reply |
| --- | --- | --- |
| ``ping`` | :class:`~lectern.contracts.PingRequest` | :class:`~lectern.contracts.PingResponse` |
| ``session_history`` | :class:`SessionHistoryRequest` | :class:`SessionHistoryResponse` |
| ``document_status`` | :class:`DocumentStatusRequest` | :class:`DocumentStatusResponse` |
| ``document_list`` | :class:`DocumentListRequest` | :class:`DocumentListResponse` |
| ``analytics_summary`` | :class:`AnalyticsSummaryRequest` | :class:`AnalyticsSummaryResponse` |

Paged reads use keyset pagination: a reply's ``next_cursor`` (opaque string, ``None``
on the last page) goes into the next request's ``after``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from lectern.contracts import (
    DEFAULT_COLLECTION,
    CollectionName,
    DocumentId,
    Message,
    PingRequest,
    PingResponse,
    RpcError,
)

DocumentStatus = Literal["accepted", "indexed", "failed", "deleted"]
"""Lifecycle state of a document, from its latest ``document.*`` event."""

MAX_ANALYTICS_WINDOW = timedelta(days=366)
"""Longest time window an analytics summary may cover."""

SessionId = Annotated[str, Field(min_length=1, max_length=128)]
Cursor = Annotated[str, Field(min_length=1, max_length=512)]
Collections = Annotated[list[CollectionName] | None, Field(default=None, max_length=100)]
"""Collections a read covers; ``None``: every collection."""


class _Reply(BaseModel):
    model_config = ConfigDict(frozen=True)


# --------------------------------------------------------------------------- sessions


class SessionHistoryRequest(Message):
    """A session's interactions, oldest first, one page of at most ``limit``.

    Attributes:
        principal: when set, only a session this principal owns is found (others and
            sessions without an owner answer 404); ``None`` reads any session (admin).
    """

    kind: Literal["session_history"] = "session_history"
    session_id: SessionId
    limit: int = Field(default=100, ge=1, le=1000)
    after: Cursor | None = None
    principal: str | None = Field(default=None, max_length=160)


class SessionInteraction(_Reply):
    """One event of a session (a search, an answer, or any event with its session id).

    Attributes:
        payload: the event's own fields (``query``, ``hit_count``, ``answer``...), as
            published; the envelope fields are the typed attributes.
    """

    event_id: UUID
    event_type: str
    occurred_at: AwareDatetime
    correlation_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class SessionHistoryResponse(_Reply):
    """Reply to :class:`SessionHistoryRequest`: the session's counters and one page.

    Attributes:
        first_seen_at: ``occurred_at`` of the session's oldest stored event.
        last_seen_at: ``occurred_at`` of its newest stored event.
        search_count: ``search.completed`` events of the session.
        answer_count: ``answer.completed`` events of the session.
        event_count: every stored event of the session.
        interactions: this page, ordered by ``(occurred_at, event_id)``.
        next_cursor: pass as ``after`` for the next page; ``None`` on the last page.
    """

    kind: Literal["session_history"] = "session_history"
    session_id: str
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime
    search_count: int
    answer_count: int
    event_count: int
    interactions: list[SessionInteraction]
    next_cursor: str | None = None


# --------------------------------------------------------------------------- documents


class DocumentView(_Reply):
    """A document's latest known state (the ``documents`` projection).

    Attributes:
        status: from the newest ``document.*`` event by ``occurred_at``; an older event
            arriving late never overwrites it.
        version: hex sha256 of the normalised content, when an event named it.
        chunk_count: chunks stored for ``version`` (``document.indexed`` only).
        failure_reason: why indexing failed (status ``failed`` only).
        first_seen_at: ``occurred_at`` of the oldest event seen for the document.
        updated_at: ``occurred_at`` of the event that set ``status``.
        collection: the collection the document belongs to (ids are unique within one).
    """

    document_id: str
    collection: str = DEFAULT_COLLECTION
    status: DocumentStatus
    version: str | None = None
    title: str | None = None
    source: str | None = None
    format: str | None = None
    chunk_count: int | None = None
    failure_reason: str | None = None
    first_seen_at: AwareDatetime
    updated_at: AwareDatetime


class DocumentStatusRequest(Message):
    """One document's status; unknown ids are answered with a 404 :class:`RpcError`."""

    kind: Literal["document_status"] = "document_status"
    document_id: DocumentId
    collection: CollectionName = DEFAULT_COLLECTION


class DocumentStatusResponse(_Reply):
    """Reply to :class:`DocumentStatusRequest`."""

    kind: Literal["document_status"] = "document_status"
    document: DocumentView


class DocumentListRequest(Message):
    """Documents ordered by collection and ``document_id``, optionally with one status."""

    kind: Literal["document_list"] = "document_list"
    collections: Collections = None
    status: DocumentStatus | None = None
    limit: int = Field(default=50, ge=1, le=500)
    after: Cursor | None = None


class DocumentListResponse(_Reply):
    """Reply to :class:`DocumentListRequest`; ``next_cursor`` is ``None`` on the last page."""

    kind: Literal["document_list"] = "document_list"
    documents: list[DocumentView]
    next_cursor: str | None = None


# --------------------------------------------------------------------------- analytics


class AnalyticsSummaryRequest(Message):
    """Usage over ``[since, until)`` (UTC), at most :data:`MAX_ANALYTICS_WINDOW` long."""

    kind: Literal["analytics_summary"] = "analytics_summary"
    since: AwareDatetime
    until: AwareDatetime
    top_n: int = Field(default=10, ge=1, le=100)
    collections: Collections = None
    """Only searches and answers that named one of these, and their failed documents."""

    @model_validator(mode="after")
    def _window_is_valid(self) -> Self:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        if self.until - self.since > MAX_ANALYTICS_WINDOW:
            raise ValueError(f"the window may span at most {MAX_ANALYTICS_WINDOW.days} days")
        return self


class DailyUsage(_Reply):
    """Counts for one UTC day: searches, answers, and searches with no hit."""

    day: date
    searches: int
    answers: int
    zero_hit_searches: int


class LatencySummary(_Reply):
    """Latency percentiles in milliseconds (continuous, ``percentile_cont``); ``None`` if empty."""

    p50_ms: float | None = None
    p95_ms: float | None = None


class TopQuery(_Reply):
    """A search query (trimmed, lower-cased) and how many times it was asked."""

    query: str
    count: int


class FailedDocument(_Reply):
    """A document whose latest state is ``failed``, with the indexer's reason."""

    document_id: str
    collection: str = DEFAULT_COLLECTION
    version: str | None = None
    reason: str | None = None
    failed_at: AwareDatetime


class RatedDownAnswer(_Reply):
    """An answer whose latest rating is ``down``, with the question behind it."""

    answer_id: str
    question: str
    answer: str
    generator: str | None = None
    comment: str | None = None
    answered_at: AwareDatetime
    rated_at: AwareDatetime


class FeedbackSummary(_Reply):
    """Ratings of the answers given in the window (``FeedbackGiven`` by ``answer_id``).

    An answer's latest rating counts, whenever it was given.

    Attributes:
        answers: ``answer.completed`` events in the window.
        rated_answers: those with at least one rating.
        rated_up: those whose latest rating is ``up``.
        rated_down: those whose latest rating is ``down``.
        down_share: ``rated_down / answers`` (0..1), the share of answers rated down;
            ``None`` when there was no answer.
        down_share_of_rated: ``rated_down / rated_answers`` (0..1); ``None`` if none rated.
        orphaned: answer ids rated in the window that match no stored answer (an
            answer id nobody was given, or an answer dropped by retention).
        rated_down_answers: the newest rated-down answers, at most ``top_n``.
    """

    answers: int
    rated_answers: int
    rated_up: int
    rated_down: int
    down_share: float | None = None
    down_share_of_rated: float | None = None
    orphaned: int
    rated_down_answers: list[RatedDownAnswer]


class AnalyticsSummaryResponse(_Reply):
    """Reply to :class:`AnalyticsSummaryRequest`.

    Attributes:
        searches: ``search.completed`` events in the window.
        answers: ``answer.completed`` events in the window.
        zero_hit_rate: share of searches with ``hit_count == 0`` (0..1); ``None`` if none.
        search_latency: percentiles of ``search.completed`` ``latency_ms``.
        answer_latency: percentiles of ``answer.completed`` ``latency_ms``.
        per_day: one row per UTC day that had a search or an answer, oldest first.
        top_queries: the ``top_n`` most frequent search queries, most frequent first.
        failed_documents: documents now ``failed`` whose failure is in the window.
        dead_lettered_events: events waiting in ``session-logger.events.dlq`` now (not
            limited to the window: they stay until an operator drains or replays them);
            ``None`` when the broker could not be asked.
        feedback: ratings of the window's answers (:class:`FeedbackSummary`); ``None``
            from a session-logger that does not report them.
    """

    kind: Literal["analytics_summary"] = "analytics_summary"
    since: AwareDatetime
    until: AwareDatetime
    searches: int
    answers: int
    zero_hit_rate: float | None = None
    search_latency: LatencySummary
    answer_latency: LatencySummary
    per_day: list[DailyUsage]
    top_queries: list[TopQuery]
    failed_documents: list[FailedDocument]
    dead_lettered_events: int | None = None
    feedback: FeedbackSummary | None = None


# --------------------------------------------------------------------------- unions

ReadRequest = Annotated[
    PingRequest
    | SessionHistoryRequest
    | DocumentStatusRequest
    | DocumentListRequest
    | AnalyticsSummaryRequest,
    Field(discriminator="kind"),
]
"""Any request the session-logger serves, chosen by ``kind``."""

ReadReply = Annotated[
    PingResponse
    | SessionHistoryResponse
    | DocumentStatusResponse
    | DocumentListResponse
    | AnalyticsSummaryResponse
    | RpcError,
    Field(discriminator="kind"),
]
"""Any reply of the session-logger, chosen by ``kind`` (``"error"`` is :class:`RpcError`)."""
