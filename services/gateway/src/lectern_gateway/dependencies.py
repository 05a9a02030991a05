"""The state of what the gateway depends on, for ``/health/dependencies`` and metrics.

Readiness (``/health/ready``) only asks whether the gateway can do its own job (the
broker is connected). The other dependencies are reported here, never taking the
gateway out of service: with the session-logger or Postgres away, searches still
answer (their events wait in RabbitMQ); with the indexer away, answers with caller
``context`` still answer.

Each probe is timed with ``time.perf_counter``. A store is probed by the service that
owns it (its RPC ping reports ``store_ok``), so a store's ``latency_ms`` is the round
trip of that ping: an upper bound on the store's own latency.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Gauge

from lectern.contracts import PingRequest, PingResponse
from lectern.logging import get_logger
from lectern.tracing import untraced
from lectern_gateway.backends import SERVICE_QUEUES, Backends
from lectern_gateway.errors import GatewayError, UpstreamTimeoutError
from lectern_gateway.schemas import DependenciesBody, DependencyState

log = get_logger(__name__)

STORES = {"indexer": "vector-store", "session-logger": "event-store"}
"""Stable name of each service's store (its engine is in the entry's ``store`` field)."""

DEPENDENCY_UP = Gauge(
    "lectern_gateway_dependency_up",
    "1 when the dependency's last probe found it up, else 0 (down or unknown).",
    ["dependency", "kind"],
)
DEPENDENCY_LATENCY = Gauge(
    "lectern_gateway_dependency_latency_seconds",
    "Duration of the dependency's last probe, in seconds.",
    ["dependency", "kind"],
)


async def probe_dependencies(backends: Backends) -> DependenciesBody:
    """Probe the broker and ping each service concurrently, then update the gauges.

    Each probe waits at most ``PING_TIMEOUT_S``; the whole call takes about that long
    when a service is away.

    Returns:
        One entry for the broker, each service and each service's store.
    """
    names = list(SERVICE_QUEUES)
    with untraced():  # pings every few seconds: no trace each in the services
        broker, services = await asyncio.gather(
            _probe_broker(backends),
            asyncio.gather(*(_probe_service(backends, name) for name in names)),
        )
    states = [broker, *(state for entries in services for state in entries)]
    for state in states:
        DEPENDENCY_UP.labels(state.name, state.kind).set(1 if state.state == "up" else 0)
        DEPENDENCY_LATENCY.labels(state.name, state.kind).set(state.latency_ms / 1000)
    return DependenciesBody(
        all_up=all(s.state == "up" for s in states),
        dependencies={s.name: s for s in states},
    )


async def monitor_dependencies(backends: Backends, interval_s: float) -> None:
    """Probe every ``interval_s`` seconds (first after one interval) to keep the gauges fresh."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await probe_dependencies(backends)
        except Exception:  # a probe bug must not end the monitor; log it and go on
            log.exception("dependencies.probe_failed")


async def _probe_broker(backends: Backends) -> DependencyState:
    started = time.perf_counter()
    ok = await backends.broker.ping(timeout=backends.settings.ping_timeout_s)
    return DependencyState(
        name="broker",
        kind="broker",
        state="up" if ok else "down",
        latency_ms=_ms_since(started),
        detail=None if ok else "RabbitMQ does not answer",
    )


async def _probe_service(backends: Backends, service: str) -> list[DependencyState]:
    started = time.perf_counter()
    store_name = STORES[service]
    try:
        reply = await backends.call(
            service, PingRequest(), PingResponse, timeout=backends.settings.ping_timeout_s
        )
    except UpstreamTimeoutError:
        detail = f"no ping reply within {backends.settings.ping_timeout_s} s"
        return _service_down(service, store_name, _ms_since(started), detail)
    except GatewayError:
        return _service_down(service, store_name, _ms_since(started), "not answering its ping")
    latency_ms = _ms_since(started)
    return [
        DependencyState(name=service, kind="service", state="up", latency_ms=latency_ms),
        DependencyState(
            name=store_name,
            kind="store",
            state="up" if reply.store_ok else "down",
            latency_ms=latency_ms,
            detail=reply.detail,
            store=reply.store,
            reported_by=service,
        ),
    ]


def _service_down(
    service: str, store_name: str, latency_ms: float, detail: str
) -> list[DependencyState]:
    return [
        DependencyState(
            name=service, kind="service", state="down", latency_ms=latency_ms, detail=detail
        ),
        DependencyState(
            name=store_name,
            kind="store",
            state="unknown",
            latency_ms=latency_ms,
            detail=f"the {service} that reports it does not answer",
            reported_by=service,
        ),
    ]


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
