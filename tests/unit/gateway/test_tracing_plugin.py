"""The gateway adds Litestar's OpenTelemetry plugin only when tracing is on."""

from __future__ import annotations

from lectern_gateway.settings import GatewaySettings
from lectern_gateway.tracing import tracing_plugins


def test_gateway_plugin_only_when_on() -> None:
    assert tracing_plugins(GatewaySettings(otel_exporter_otlp_endpoint=None)) == []
    plugins = tracing_plugins(GatewaySettings(otel_exporter_otlp_endpoint="http://127.0.0.1:1"))
    assert [type(p).__name__ for p in plugins] == ["OpenTelemetryPlugin"]
