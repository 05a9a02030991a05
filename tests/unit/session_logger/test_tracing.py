"""The event consumer's spans cost nothing while tracing is off."""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace
from typing import Any, cast

from opentelemetry import trace

from lectern.tracing import tracing_active
from lectern_session_logger.tracing import end_persist_span, made_current, start_persist_span


def _message() -> Any:
    return SimpleNamespace(
        headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
        routing_key="search.completed",
        message_id="m-1",
        correlation_id="r-1",
    )


async def test_off_makes_no_span_even_with_a_traceparent() -> None:
    assert not tracing_active()
    span = start_persist_span(cast(Any, _message()))
    assert span is trace.INVALID_SPAN
    assert isinstance(made_current(span), contextlib.nullcontext)
    future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    future.set_result("refused")
    end_persist_span(span, future)  # a no-op span takes the callback too
