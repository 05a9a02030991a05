"""Run the three Lectern services as real processes for end-to-end tests.

Uses the machine's RabbitMQ and Postgres (a fresh vhost and database per test) and the
process helpers of the fault harness (:class:`tests.faults.harness.ServiceGroup`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import drop_database, drop_vhost, make_database, make_vhost
from tests.faults.harness import SERVICE_NAMES, ServiceGroup, free_port, service_env


@dataclass
class Stack:
    """The three services sharing one vhost, database and Qdrant folder."""

    env: dict[str, str]
    group: ServiceGroup
    vhost: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    def log_tail(self, name: str, lines: int = 40) -> str:
        return self.group[name].log_tail(lines)


@contextmanager
def running_stack(
    base: Path, per_service: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[Stack]:
    """Run gateway, indexer and session-logger on a fresh vhost, database and store.

    Args:
        base: a folder for the Qdrant store and the service logs.
        per_service: extra variables of one service by name, e.g. its ``METRICS_PORT``.
    """
    vhost, amqp_url = make_vhost()
    database, database_url = make_database()
    env = service_env(
        rabbitmq_url=amqp_url,
        database_url=database_url,
        qdrant_path=base / "qdrant",
        gateway_port=free_port(),
    )
    group = ServiceGroup(base / "logs")
    try:
        for name in SERVICE_NAMES:
            group.start(name, {**env, **(per_service or {}).get(name, {})})
        group["gateway"].wait_http_ok(
            "/health/dependencies", timeout=180, accept=lambda body: body["all_up"]
        )
        yield Stack(env=env, group=group, vhost=vhost)
    except Exception:
        print(group.log_tails())
        raise
    finally:
        group.close()
        drop_database(database)
        drop_vhost(vhost)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Start gateway, indexer and session-logger on a fresh vhost, database and store."""
    with running_stack(tmp_path) as running:
        yield running
