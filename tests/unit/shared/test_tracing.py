"""Tracing switches and the W3C context seams (no broker, no exporter)."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from lectern.logging import add_trace_id
from lectern.settings import BaseServiceSettings
from lectern.tracing import (
    extract_context,
    inject_context,
    setup_tracing,
    tracing_enabled,
    tracing_middlewares,
    untraced,
)

OFF = BaseServiceSettings(otel_exporter_otlp_endpoint=None)
ON = BaseServiceSettings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")

# A tracer of its own provider: the global one stays OpenTelemetry's default.
TRACER = TracerProvider().get_tracer("test")


async def test_off_without_endpoint_creates_nothing() -> None:
    tracing = setup_tracing(OFF, "lectern-test")
    assert not tracing.enabled
    assert tracing.provider is None
    assert tracing_middlewares(OFF) == ()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    await tracing.close()


def test_an_empty_endpoint_is_off() -> None:
    assert not tracing_enabled(BaseServiceSettings(otel_exporter_otlp_endpoint=""))


def test_on_adds_faststreams_telemetry_middleware() -> None:
    assert tracing_enabled(ON)
    (middleware,) = tracing_middlewares(ON)
    assert isinstance(middleware, RabbitTelemetryMiddleware)


def test_no_context_injected_outside_a_span() -> None:
    assert inject_context({"x-attempt": 0}) == {"x-attempt": 0}
    assert not trace.get_current_span(extract_context(None)).get_span_context().is_valid


@pytest.mark.parametrize("as_bytes", [False, True])
def test_context_survives_amqp_headers(as_bytes: bool) -> None:
    with TRACER.start_as_current_span("publish") as span:
        headers: dict[str, Any] = inject_context({"x-attempt": 0})
    assert headers["traceparent"].startswith("00-")
    if as_bytes:  # AMQP long strings may be delivered as bytes
        headers = {k: v.encode() if isinstance(v, str) else v for k, v in headers.items()}
    remote = trace.get_current_span(extract_context(headers)).get_span_context()
    assert remote.is_remote
    assert remote.trace_id == span.get_span_context().trace_id
    assert remote.span_id == span.get_span_context().span_id


def test_log_lines_carry_the_current_trace_id() -> None:
    assert "trace_id" not in add_trace_id(None, "info", {"event": "outside"})
    with TRACER.start_as_current_span("work") as span:
        line = add_trace_id(None, "info", {"event": "inside", "correlation_id": "r1"})
    context = span.get_span_context()
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
    assert line["correlation_id"] == "r1"


def test_untraced_sends_an_unsampled_context() -> None:
    with TRACER.start_as_current_span("request"), untraced():
        headers = inject_context({})
    remote = trace.get_current_span(extract_context(headers)).get_span_context()
    assert remote.is_valid
    assert not remote.trace_flags.sampled
    # A parent-based sampler (the SDK default) records nothing under it.
    with TRACER.start_as_current_span("served", context=extract_context(headers)) as span:
        assert not span.is_recording()
