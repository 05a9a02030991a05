"""A small asynchronous client of the gateway's HTTP API (the only thing the CLI talks to).

Requests that the gateway refuses for load (``429``) or a passing outage (``503``) are
retried with back-off (tenacity), waiting at least the ``Retry-After`` the gateway sent;
every other error surfaces at once as :class:`ApiError` with the problem's ``detail``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

RETRY_STATUSES = frozenset({429, 503})
"""Statuses worth retrying: rate limited, or a dependency briefly away."""

MAX_ATTEMPTS = 8
"""Tries per request before its last error is reported."""


class ApiError(Exception):
    """The gateway answered with an error (an RFC 9457 problem when it could).

    Attributes:
        status: the HTTP status.
        title: the problem's title (or the reason phrase).
        detail: the problem's detail, for humans.
        retry_after_s: the ``Retry-After`` header in seconds, when sent.
    """

    def __init__(self, status: int, title: str, detail: str, retry_after_s: float | None) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.retry_after_s = retry_after_s


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiError):
        return exc.status in RETRY_STATUSES
    return isinstance(exc, httpx.TransportError)


class _WaitRetryAfter(wait_base):
    """Wait the server's ``Retry-After`` when it sent one, else exponential back-off."""

    def __init__(self) -> None:
        self.fallback = wait_exponential_jitter(multiplier=0.5, max=10)

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, ApiError) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, 60.0)
        return float(self.fallback(retry_state))


@dataclass(frozen=True)
class ServerSentEvent:
    """One server-sent event: its ``event`` name and its ``data`` (decoded JSON or text)."""

    event: str
    data: Any


def error_of(response: httpx.Response) -> ApiError:
    """Build an :class:`ApiError` from an error response (problem body if present)."""
    title, detail = response.reason_phrase, response.text[:500]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title", title))
        detail = str(body.get("detail", detail))
    retry_after = response.headers.get("retry-after")
    try:
        seconds = float(retry_after) if retry_after else None
    except ValueError:
        seconds = None
    return ApiError(response.status_code, title, detail, seconds)


class LecternClient:
    """Calls the gateway; use as ``async with LecternClient(url, key) as client``.

    Args:
        base_url: the gateway, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``X-API-Key`` when given.
        timeout: seconds per request (connect, read, write).
        max_attempts: tries for a request answered ``429``/``503`` or failing to connect.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)
        self._max_attempts = max_attempts

    async def __aenter__(self) -> LecternClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request, retrying ``429``/``503``; return the decoded JSON body.

        Raises:
            ApiError: an error status (after the retries for retryable ones).
            httpx.TransportError: the gateway could not be reached after the retries.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._max_attempts),
            wait=_WaitRetryAfter(),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                response = await self._http.request(method, path, **kwargs)
                if response.is_error:
                    raise error_of(response)
        return response.json() if response.content else None

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[ServerSentEvent]:
        """POST ``body`` asking for server-sent events; yield them as they arrive.

        A gateway that answers plain JSON instead (no streaming) yields one ``answer``
        event with that body.

        Raises:
            ApiError: the gateway refused the request.
        """
        headers = {"Accept": "text/event-stream"}
        async with aconnect_sse(self._http, "POST", path, json=body, headers=headers) as source:
            response = source.response
            if response.is_error:
                await response.aread()
                raise error_of(response)
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                await response.aread()
                yield ServerSentEvent("answer", response.json())
                return
            async for sse in source.aiter_sse():
                try:
                    data: Any = sse.json()
                except ValueError:
                    data = sse.data
                yield ServerSentEvent(sse.event or "message", data)
