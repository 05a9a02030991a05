"""A running Lectern (three service processes) for clients that are not ours.

One stack for every test here (the indexer loads the real model once); each test uses its
own document ids and session ids, so tests stay independent inside the module.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from examples.producers import producer
from tests.e2e.conftest import Stack, running_stack
from tests.faults.harness import wait_until


@pytest.fixture(scope="session")
def lectern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Gateway, indexer and session-logger on a fresh vhost and database."""
    with running_stack(tmp_path_factory.mktemp("producers")) as stack:
        yield stack


@pytest.fixture
def stack_amqp_url(lectern: Stack) -> str:
    """The stack's vhost, with guest's credentials (a producer user in production)."""
    return lectern.env["RABBITMQ_URL"]


@pytest.fixture
def channel(stack_amqp_url: str) -> Iterator[Any]:
    """A pika channel in confirm mode, made by the guide's own ``connect``."""
    opened = producer.connect(stack_amqp_url)
    yield opened
    if opened.connection.is_open:
        opened.connection.close()


@pytest.fixture
def http(lectern: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lectern.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def session_id() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


def sql(stack: Stack, query: str) -> list[str]:
    """Rows of ``query`` on the stack's database, one string per row (``psql -tA``)."""
    out = subprocess.run(
        ["psql", stack.env["DATABASE_URL"], "-tAc", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if line]


def queue_depth(stack: Stack, queue: str) -> int:
    """Ready plus unacknowledged messages of ``queue`` in the stack's vhost."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", stack.vhost, "name", "messages"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        name, _, count = line.partition("\t")
        if name == queue:
            return int(count)
    raise AssertionError(f"no queue {queue} in {stack.vhost}")


def wait_json(
    http: httpx.Client,
    path: str,
    predicate: Callable[[dict[str, Any]], bool],
    *,
    stack: Stack,
    timeout: float = 120,
) -> dict[str, Any]:
    """GET ``path`` until it answers 200 with a body for which ``predicate`` holds."""
    seen: dict[str, Any] = {}

    def ready() -> bool:
        response = http.get(path)
        if response.status_code != 200:
            return False
        seen.update(body=response.json())
        return predicate(response.json())

    try:
        wait_until(ready, timeout=timeout, interval=0.25, message=f"GET {path}")
    except TimeoutError:
        logs = "\n".join(stack.log_tail(name) for name in ("indexer", "session-logger"))
        raise AssertionError(f"GET {path}: last body {seen.get('body')}\n{logs}") from None
    body: dict[str, Any] = seen["body"]
    return body
