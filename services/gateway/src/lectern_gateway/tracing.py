"""The gateway's tracing: Litestar's OpenTelemetry plugin and the process's exporter.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (:mod:`lectern.tracing`). When on,
Litestar's ``OpenTelemetryPlugin`` wraps the whole ASGI app, so every request's server
span is current while its handler runs: the RPC requests (:mod:`lectern.rpc`) and the
commands and events the request publishes (FastStream's telemetry middleware) carry it
to the other services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar

from lectern.tracing import setup_tracing, tracing_enabled
from lectern_gateway.settings import GatewaySettings

SERVICE_NAME = "lectern-gateway"
"""``service.name`` of the gateway's spans."""

UNTRACED_PATHS = ["^/health", "^/metrics"]
"""Probes and scrapes: frequent, uninteresting, left out of traces."""


def tracing_plugins(settings: GatewaySettings) -> list[Any]:
    """Litestar plugins that trace HTTP requests: ``[OpenTelemetryPlugin]`` or none.

    One server span per request, without the ASGI ``receive``/``send`` child spans (a
    streamed answer would make one per token). Litestar's OpenTelemetry package is
    imported only when tracing is on.
    """
    if not tracing_enabled(settings):
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    config = OpenTelemetryConfig(exclude=UNTRACED_PATHS, exclude_spans=["receive", "send"])
    return [OpenTelemetryPlugin(config)]


def tracing_lifespan(
    settings: GatewaySettings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A Litestar lifespan that installs the exporter and flushes it on shutdown.

    List it first among the lifespans so it closes last, after the broker stopped.
    """

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        tracing = setup_tracing(settings, SERVICE_NAME)
        try:
            yield
        finally:
            await tracing.close()

    return lifespan
