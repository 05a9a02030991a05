"""OpenTelemetry tracing, off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Each service calls :func:`setup_tracing` once in its lifespan and builds its broker with
``middlewares=tracing_middlewares(settings)`` (FastStream's own
``RabbitTelemetryMiddleware``: a span per consumed and per published message, the W3C
``traceparent`` in the message headers). The two paths that do not go through a
FastStream publisher or subscriber carry the context themselves, with
:mod:`opentelemetry.propagate`: the RPC client's requests (:func:`inject_context`, in
:mod:`lectern.rpc`) and the session-logger's aio-pika batch consumer
(:func:`extract_context`). So one trace spans gateway → RabbitMQ → indexer → the events
published → session-logger.

With the endpoint unset nothing is created: no tracer provider, exporter, span processor
or middleware; the global tracer stays OpenTelemetry's no-op one, :func:`inject_context`
adds nothing (about 3 µs), and the session-logger skips its spans
(:func:`tracing_active`). The SDK and the OTLP exporter are imported only when tracing
is on. The SDK still reads its own variables, which no Lectern setting duplicates:
``OTEL_EXPORTER_OTLP_HEADERS`` / ``_TIMEOUT`` / ``_CERTIFICATE`` (the exporter),
``OTEL_TRACES_SAMPLER`` / ``_ARG``, ``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_PROPAGATORS``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from lectern.logging import get_logger
from lectern.settings import BaseServiceSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = get_logger(__name__)

TRACER_NAME = "lectern"
"""Instrumentation scope of the spans Lectern makes itself (RPC requests, persisting)."""

TRACES_PATH = "/v1/traces"
"""Path of the OTLP/HTTP traces endpoint under ``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP spec)."""


class _State:
    active = False


_state = _State()


def tracing_active() -> bool:
    """Whether :func:`setup_tracing` installed an exporting tracer provider in this process.

    Lets hot paths outside FastStream (the session-logger's consumer) skip even no-op
    spans while tracing is off.
    """
    return _state.active


class Tracing:
    """The tracing of one process; :meth:`close` flushes and stops it (no-op when off).

    Args:
        provider: the SDK tracer provider, or ``None`` when tracing is off.
    """

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider

    @property
    def enabled(self) -> bool:
        """Whether spans are exported."""
        return self.provider is not None

    async def close(self) -> None:
        """Export the spans still buffered, then shut the exporter down.

        Runs in a worker thread: the OTLP exporter posts with blocking ``requests``
        (bounded by ``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s by default).
        """
        if self.provider is not None:
            await asyncio.to_thread(self.provider.shutdown)


def tracing_enabled(settings: BaseServiceSettings) -> bool:
    """Whether ``settings`` turn tracing on (``OTEL_EXPORTER_OTLP_ENDPOINT`` is set)."""
    return settings.otel_exporter_otlp_endpoint is not None


def setup_tracing(settings: BaseServiceSettings, service_name: str) -> Tracing:
    """Install the global tracer provider exporting OTLP/HTTP protobuf, when enabled.

    Args:
        settings: the service's settings (endpoint and export delay).
        service_name: the resource's ``service.name`` (``lectern-gateway``...).

    Returns:
        The process's :class:`Tracing`; off (nothing created) without an endpoint.
    """
    if settings.otel_exporter_otlp_endpoint is None:
        return Tracing()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = str(settings.otel_exporter_otlp_endpoint).removesuffix("/") + TRACES_PATH
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint),
            schedule_delay_millis=settings.otel_bsp_schedule_delay,
        )
    )
    trace.set_tracer_provider(provider)
    _state.active = True
    log.info("tracing.enabled", endpoint=endpoint, service_name=service_name)
    return Tracing(provider)


def tracing_middlewares(settings: BaseServiceSettings) -> tuple[Any, ...]:
    """FastStream broker middlewares for ``settings``: the telemetry one, or none.

    ``RabbitTelemetryMiddleware`` uses the global tracer provider, which
    :func:`setup_tracing` installs later, in the lifespan (its tracer is a proxy until
    then).

    Returns:
        ``(RabbitTelemetryMiddleware(),)`` when tracing is on, else ``()``.
    """
    if not tracing_enabled(settings):
        return ()
    from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

    return (RabbitTelemetryMiddleware(),)


def get_tracer() -> trace.Tracer:
    """The tracer of Lectern's own spans (the no-op tracer while tracing is off)."""
    return trace.get_tracer(TRACER_NAME)


def inject_context(headers: dict[str, Any]) -> dict[str, Any]:
    """Add the current trace context (W3C ``traceparent``) to AMQP ``headers``.

    Returns:
        ``headers`` itself, unchanged when no span is current or tracing is off.
    """
    propagate.inject(headers)
    return headers


@contextmanager
def untraced() -> Iterator[None]:
    """Mark what is sent inside the block as not sampled (W3C ``traceparent`` flags 00).

    For probes (health pings every few seconds): the services they reach continue the
    unsampled context (the SDK's default parent-based sampler), so they record and
    export no spans, instead of starting a new trace per ping.
    """
    context = SpanContext(
        trace_id=random.getrandbits(128) | 1,
        span_id=random.getrandbits(64) | 1,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )
    with trace.use_span(NonRecordingSpan(context)):
        yield


class _AmqpHeaderGetter(Getter[Mapping[str, Any]]):
    """Reads W3C trace headers from AMQP headers, whose strings may arrive as bytes."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier.keys())


_GETTER = _AmqpHeaderGetter()


def extract_context(headers: Mapping[str, Any] | None) -> Context:
    """The trace context a message's AMQP ``headers`` carry (empty when none)."""
    return propagate.extract(headers or {}, getter=_GETTER)
