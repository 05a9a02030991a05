"""Fixtures of the fault suite: a private RabbitMQ node and Postgres cluster, services.

Session-scoped servers (started once, torn down at the end even on failure):

- ``fault_rabbitmq`` -> :class:`~tests.faults.harness.RabbitNode`
- ``fault_postgres`` -> :class:`~tests.faults.harness.PostgresCluster`

Per-test isolation on top of them (each also restarts a server a previous test left
stopped or paused):

- ``fault_amqp_url``: a fresh vhost on the private node, deleted afterwards;
- ``fault_database_url``: a fresh database on the private cluster, dropped afterwards;
- ``fault_env``: a service environment using both, a fresh ``QDRANT_PATH`` and a free
  ``GATEWAY_PORT``;
- ``services``: a :class:`~tests.faults.harness.ServiceGroup`; whatever it started is
  stopped after the test, and its log tails are printed when the test failed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults.harness import (
    REPORTED,
    PostgresCluster,
    RabbitNode,
    ServiceGroup,
    free_port,
    make_base_dir,
    remove_tree,
    service_env,
)

FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED_KEY] = True
    return report


def _require_tools() -> None:
    if os.geteuid() != 0:
        pytest.fail("the fault suite runs as root (servers run as rabbitmq/postgres)")
    for tool in ("rabbitmqctl", "psql"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: the fault suite needs RabbitMQ and Postgres")


@pytest.fixture(scope="session")
def fault_base_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A temporary folder for the private servers; kept (and printed) if a test failed."""
    _require_tools()
    base = make_base_dir()
    yield base
    if request.session.testsfailed:
        print(f"\nfault-suite server files kept in {base}")
    else:
        remove_tree(base)


@pytest.fixture(scope="session")
def fault_rabbitmq(fault_base_dir: Path) -> Iterator[RabbitNode]:
    """A private RabbitMQ node for the whole fault suite (about 5 s to boot)."""
    node = RabbitNode(fault_base_dir / "rabbitmq")
    try:
        node.start()
        node.check_feature_flags()
        yield node
    finally:
        node.close()


@pytest.fixture(scope="session")
def fault_postgres(fault_base_dir: Path) -> Iterator[PostgresCluster]:
    """A private Postgres cluster for the whole fault suite."""
    cluster = PostgresCluster(fault_base_dir / "postgres")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def fault_amqp_url(fault_rabbitmq: RabbitNode) -> Iterator[str]:
    """A fresh vhost on the private node (``guest`` URL), deleted after the test."""
    fault_rabbitmq.ensure_started()
    url = fault_rabbitmq.add_vhost()
    yield url
    fault_rabbitmq.ensure_started()
    fault_rabbitmq.delete_vhost(urlsplit(url).path.lstrip("/"))


@pytest.fixture
def fault_database_url(fault_postgres: PostgresCluster) -> Iterator[str]:
    """A fresh database on the private cluster, dropped after the test."""
    fault_postgres.ensure_started()
    url = fault_postgres.create_database()
    yield url
    fault_postgres.ensure_started()
    fault_postgres.drop_database(urlsplit(url).path.lstrip("/"))


@pytest.fixture
def fault_env(fault_amqp_url: str, fault_database_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for Lectern services on the private servers (see ``service_env``)."""
    return service_env(
        rabbitmq_url=fault_amqp_url,
        database_url=fault_database_url,
        qdrant_path=tmp_path / "qdrant",
        gateway_port=free_port(),
        SHUTDOWN_GRACE_S="10",
    )


@pytest.fixture
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceGroup]:
    """Start Lectern services for one test; stopped afterwards, logs shown on failure."""
    group = ServiceGroup(tmp_path / "logs")
    try:
        yield group
    finally:
        group.close()
        if request.node.stash.get(FAILED_KEY, False) and group.processes:
            print(group.log_tails())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print every fault scenario's counts at the end of the run, pass or fail."""
    if REPORTED:
        terminalreporter.section("fault-suite counts")
        for line in REPORTED:
            terminalreporter.write_line(line)
