"""Liveness and readiness probes, and the event catalogue."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from lectern.catalogue import build_catalogue
from lectern.contracts import PingRequest, PingResponse
from lectern_gateway.backends import SERVICE_QUEUES, Backends
from lectern_gateway.errors import GatewayError
from lectern_gateway.schemas import ReadinessBody

CATALOGUE = build_catalogue()


class HealthController(Controller):
    """``/health/live`` (the process answers) and ``/health/ready`` (it can serve)."""

    path = "/health"
    tags = ["health"]

    @get("/live", summary="Liveness")
    async def live(self) -> dict[str, str]:
        """Answer ``200`` while the process runs."""
        return {"status": "ok"}

    @get("/ready", summary="Readiness")
    async def ready(self, backends: NamedDependency[Backends]) -> Response[ReadinessBody]:
        """Check the broker and ping each service (1 s each, concurrently).

        Answers ``200`` when all are up, ``503`` otherwise, with each check's state.
        """
        broker_ok = await backends.broker.ping(timeout=backends.settings.ping_timeout_s)
        checks: dict[str, dict[str, object]] = {"broker": {"ok": broker_ok}}
        names = list(SERVICE_QUEUES)
        results = await asyncio.gather(*(_ping(backends, name) for name in names))
        checks.update(zip(names, results, strict=True))
        ready = all(bool(check["ok"]) for check in checks.values())
        status = HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE
        headers = {} if ready else {"Retry-After": "2"}
        return Response(
            ReadinessBody(ready=ready, checks=checks), status_code=status, headers=headers
        )


@get("/asyncapi.json", summary="Event catalogue (AsyncAPI 3.0)", tags=["schema"])
async def asyncapi_document() -> dict[str, Any]:
    """The commands and events that cross RabbitMQ, as an AsyncAPI 3.0 document."""
    return CATALOGUE


async def _ping(backends: Backends, service: str) -> dict[str, object]:
    try:
        reply = await backends.call(
            service, PingRequest(), PingResponse, timeout=backends.settings.ping_timeout_s
        )
    except GatewayError as exc:
        return {"ok": False, "detail": exc.detail}
    return {
        "ok": reply.store_ok,
        "store": reply.store,
        "store_ok": reply.store_ok,
        **({"detail": reply.detail} if reply.detail else {}),
    }
