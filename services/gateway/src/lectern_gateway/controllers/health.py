"""Liveness, readiness and dependency probes, and the event catalogue."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from lectern.catalogue import build_catalogue
from lectern_gateway.backends import Backends
from lectern_gateway.dependencies import probe_dependencies
from lectern_gateway.schemas import DependenciesBody, ReadinessBody

CATALOGUE = build_catalogue()


class HealthController(Controller):
    """``/health/live``, ``/health/ready`` (this gateway can serve) and ``/health/dependencies``."""

    path = "/health"
    tags = ["health"]

    @get("/live", summary="Liveness")
    async def live(self) -> dict[str, str]:
        """Answer ``200`` while the process runs."""
        return {"status": "ok"}

    @get("/ready", summary="Readiness")
    async def ready(self, backends: NamedDependency[Backends]) -> Response[ReadinessBody]:
        """Answer ``200`` when the broker is connected, else ``503`` with ``Retry-After``.

        The indexer, the session-logger and their stores never make the gateway unready
        (see ``/health/dependencies``): a Postgres blip must not take every gateway out
        of service while searches still work.
        """
        started = time.perf_counter()
        broker_ok = await backends.broker.ping(timeout=backends.settings.ping_timeout_s)
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        checks: dict[str, dict[str, object]] = {
            "broker": {"ok": broker_ok, "latency_ms": latency_ms}
        }
        status = HTTP_200_OK if broker_ok else HTTP_503_SERVICE_UNAVAILABLE
        headers = {} if broker_ok else {"Retry-After": "2"}
        return Response(
            ReadinessBody(ready=broker_ok, checks=checks), status_code=status, headers=headers
        )

    @get("/dependencies", summary="State of each dependency")
    async def dependency_states(self, backends: NamedDependency[Backends]) -> DependenciesBody:
        """Probe the broker, the indexer, the session-logger and their stores (``200``).

        Always ``200``: the report itself succeeded; each entry says ``up``, ``down``
        or ``unknown`` with the probe's latency in milliseconds.
        """
        return await probe_dependencies(backends)


@get("/asyncapi.json", summary="Event catalogue (AsyncAPI 3.0)", tags=["schema"])
async def asyncapi_document() -> dict[str, Any]:
    """The commands and events that cross RabbitMQ, as an AsyncAPI 3.0 document."""
    return CATALOGUE
