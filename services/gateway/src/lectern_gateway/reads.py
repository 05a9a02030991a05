"""Service layer for reads: document status, sessions and analytics from the session-logger."""

from __future__ import annotations

from datetime import datetime, timedelta

from lectern.contracts import utc_now
from lectern.reads import (
    AnalyticsSummaryRequest,
    AnalyticsSummaryResponse,
    DocumentListRequest,
    DocumentListResponse,
    DocumentStatus,
    DocumentStatusRequest,
    DocumentStatusResponse,
    DocumentView,
    SessionHistoryRequest,
    SessionHistoryResponse,
)
from lectern_gateway.auth import request_access
from lectern_gateway.backends import Backends
from lectern_gateway.collections.access import read_collections, write_collection
from lectern_gateway.errors import ServiceUnavailableError, UpstreamTimeoutError

DEFAULT_ANALYTICS_WINDOW = timedelta(days=7)


async def document_status(
    backends: Backends, document_id: str, request_id: str, collection: str | None = None
) -> DocumentView:
    """Return a document's latest state in ``collection`` (``default`` when ``None``).

    Raises:
        ForbiddenError: the key may not use the collection (403).
        NotFoundError: the session-logger never saw the document there (404).
        ServiceUnavailableError: session-logger or broker unavailable (503).
    """
    request = DocumentStatusRequest(
        correlation_id=request_id,
        document_id=document_id,
        collection=write_collection(collection),
    )
    reply = await backends.call(
        "session-logger", request, DocumentStatusResponse, timeout=backends.settings.read_timeout_s
    )
    return reply.document


async def require_document(
    backends: Backends, document_id: str, request_id: str, collection: str | None = None
) -> None:
    """Check that the session-logger knows ``document_id`` before a write refers to it.

    A slow session-logger is treated like an absent one: the caller gets ``503`` with
    ``Retry-After`` rather than a write on a document nobody can vouch for.

    Raises:
        NotFoundError: the session-logger never saw the document (404).
        ServiceUnavailableError: session-logger or broker unavailable or slow (503).
    """
    try:
        await document_status(backends, document_id, request_id, collection)
    except UpstreamTimeoutError as exc:
        raise ServiceUnavailableError("the document's status could not be checked") from exc


async def list_documents(
    backends: Backends,
    request_id: str,
    *,
    status: DocumentStatus | None,
    limit: int,
    after: str | None,
    collections: list[str] | None = None,
) -> DocumentListResponse:
    """Return one page of documents by collection and id, optionally filtered by status.

    ``collections`` default to every collection the key may use.

    Raises:
        ForbiddenError: a named collection is not one the key may use (403).
    """
    request = DocumentListRequest(
        correlation_id=request_id,
        status=status,
        limit=limit,
        after=after,
        collections=read_collections(collections),
    )
    return await backends.call(
        "session-logger", request, DocumentListResponse, timeout=backends.settings.read_timeout_s
    )


async def session_history(
    backends: Backends, session_id: str, request_id: str, *, limit: int, after: str | None
) -> SessionHistoryResponse:
    """Return a session's interactions, oldest first, one page.

    Only the session's owner (or an ``admin`` key) finds it; anyone else gets ``404``.
    """
    request = SessionHistoryRequest(
        correlation_id=request_id,
        session_id=session_id,
        limit=limit,
        after=after,
        principal=request_access().session_owner_filter(),
    )
    return await backends.call(
        "session-logger", request, SessionHistoryResponse, timeout=backends.settings.read_timeout_s
    )


async def analytics_summary(
    backends: Backends,
    request_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    top_n: int,
    collections: list[str] | None = None,
) -> AnalyticsSummaryResponse:
    """Return usage over ``[since, until)``; defaults to the last 7 days.

    ``collections`` default to every collection the key may use.

    Raises:
        ForbiddenError: a named collection is not one the key may use (403).
        pydantic.ValidationError: an empty, inverted or too long window (400).
    """
    until = until or utc_now()
    since = since or until - DEFAULT_ANALYTICS_WINDOW
    request = AnalyticsSummaryRequest(
        correlation_id=request_id,
        since=since,
        until=until,
        top_n=top_n,
        collections=read_collections(collections),
    )
    return await backends.call(
        "session-logger",
        request,
        AnalyticsSummaryResponse,
        timeout=backends.settings.read_timeout_s,
    )
