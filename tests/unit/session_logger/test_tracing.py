"""The event consumer's spans cost nothing while tracing is off."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from opentelemetry import trace

from lectern.tracing import tracing_active
from lectern_session_logger.tracing import hand_over_span, persisting, set_event_type


def _message() -> Any:
    return SimpleNamespace(
        headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"},
        routing_key="search.completed",
        message_id="m-1",
        correlation_id="r-1",
    )


async def test_off_makes_no_span_even_with_a_traceparent() -> None:
    assert not tracing_active()
    future: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
    with persisting(_message()):
        assert not trace.get_current_span().get_span_context().is_valid
        set_event_type("search.completed")
        hand_over_span(future, 0)
    assert not trace.get_current_span().get_span_context().is_valid
