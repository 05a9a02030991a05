"""Prometheus metrics of the gateway's RPC calls, by target (service and operation).

Recorded at :meth:`lectern_gateway.backends.Backends.call`, the one place every RPC
(indexer search, sentence scoring and ping; session-logger reads) goes through, and
exposed with the rest of the gateway's metrics on ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

from lectern.rpc import BrokerUnavailableError, NoConsumerError, RpcTimeoutError

RPC_SECONDS = Histogram(
    "lectern_gateway_rpc_duration_seconds",
    "Round trip of one RPC from the gateway, by service (indexer, session-logger), "
    "operation (the request's kind: search, score_sentences, ping, session_history...) "
    "and outcome (ok: a reply arrived, even an error reply; timeout; unavailable: broker "
    "down; no_consumer: the service is not running).",
    ["service", "operation", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RPC_TIMEOUTS = Counter(
    "lectern_gateway_rpc_timeouts",
    "RPCs that got no reply within their timeout, by service and operation.",
    ["service", "operation"],
)

_OUTCOMES: tuple[tuple[type[Exception], str], ...] = (
    (RpcTimeoutError, "timeout"),
    (NoConsumerError, "no_consumer"),
    (BrokerUnavailableError, "unavailable"),
)


@contextmanager
def observe_rpc(service: str, operation: str) -> Iterator[None]:
    """Time the RPC in the block; count it as a timeout when it raises ``RpcTimeoutError``.

    Args:
        service: ``"indexer"`` or ``"session-logger"``.
        operation: the request's ``kind`` (``"search"``, ``"ping"``...).
    """
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except Exception as exc:
        outcome = next((name for kind, name in _OUTCOMES if isinstance(exc, kind)), "error")
        if outcome == "timeout":
            RPC_TIMEOUTS.labels(service, operation).inc()
        raise
    finally:
        RPC_SECONDS.labels(service, operation, outcome).observe(time.perf_counter() - started)
