"""The benchmarks' own Lectern stack: the three services on a private vhost, database, store.

The same pieces as the end-to-end tests' ``running_stack`` (``tests/e2e/conftest.py``):
a fresh RabbitMQ vhost and Postgres database (``tests.conftest``), the services as
processes (``tests.faults.harness.ServiceGroup``); here with extra settings for load,
e.g. a rate limit no benchmark client reaches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import drop_database, drop_vhost, make_database, make_vhost
from tests.e2e.conftest import Stack
from tests.faults.harness import SERVICE_NAMES, ServiceGroup, free_port, service_env

BENCH_SETTINGS = {"RATE_LIMIT_PER_MINUTE": "100000000", "LOG_LEVEL": "WARNING"}
"""Settings of every benchmark stack: no client is rate limited; warnings only in logs
(the services' per-request INFO lines would be part of what is measured)."""

READY_TIMEOUT_S = 240


@contextmanager
def bench_stack(base: Path, **extra: str) -> Iterator[Stack]:
    """Run gateway, indexer and session-logger on a fresh vhost, database and store.

    Args:
        base: folder for the Qdrant store (``base/qdrant``) and the logs (``base/logs``).
        **extra: more settings for every service (over :data:`BENCH_SETTINGS`).

    Yields:
        The running stack; the vhost and database are dropped when it stops.
    """
    vhost, amqp_url = make_vhost()
    database, database_url = make_database()
    env = service_env(
        rabbitmq_url=amqp_url,
        database_url=database_url,
        qdrant_path=base / "qdrant",
        gateway_port=free_port(),
        **(BENCH_SETTINGS | extra),
    )
    group = ServiceGroup(base / "logs")
    try:
        for name in SERVICE_NAMES:
            group.start(name, env)
        group["gateway"].wait_http_ok(
            "/health/dependencies", timeout=READY_TIMEOUT_S, accept=lambda body: body["all_up"]
        )
        yield Stack(env=env, group=group, vhost=vhost)
    except Exception:
        print(group.log_tails())
        raise
    finally:
        group.close()
        drop_database(database)
        drop_vhost(vhost)
