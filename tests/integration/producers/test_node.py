"""A producer in another language: Node.js with amqplib (examples/producers/publish.js).

The package comes from ``examples/producers/package-lock.json`` (``npm ci``); the test is
skipped only when Node.js itself (``node`` and ``npm``) is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from examples.producers import producer
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import Stack
from tests.integration.producers.conftest import wait_json

from lectern import topology

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE_DIR = REPO_ROOT / "examples" / "producers"


@pytest.fixture(scope="session")
def publish_js() -> Path:
    """``publish.js`` with its locked ``amqplib`` installed by ``npm ci``."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("Node.js (node and npm) is not installed: the amqplib example cannot run")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=EXAMPLE_DIR,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return EXAMPLE_DIR / "publish.js"


def _node(publish_js: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(publish_js), *args],
        env={**os.environ, "AMQP_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_node_event_lands_in_its_session_history(
    lectern: Stack, stack_amqp_url: str, http: httpx.Client, publish_js: Path, session_id: str
):
    done = _node(publish_js, stack_amqp_url, "support.ticket.closed", session_id, "ticket_id=N-1")
    assert done.returncode == 0, done.stderr
    event_id = json.loads(done.stdout)["event_id"]

    history = wait_json(
        http, f"/v1/sessions/{session_id}", lambda b: b["event_count"] == 1, stack=lectern
    )
    (interaction,) = history["interactions"]
    assert interaction["event_id"] == event_id
    assert interaction["event_type"] == "support.ticket.closed"
    assert interaction["payload"] == {"ticket_id": "N-1"}


def test_node_unroutable_publish_fails(amqp_url: str, publish_js: Path):
    # lectern.events exists but no queue is bound: without mandatory routing (and the
    # return it triggers) the event would be dropped silently.
    channel = producer.connect(amqp_url)
    channel.exchange_declare(topology.EVENTS_EXCHANGE_NAME, "topic", durable=True)
    channel.connection.close()
    done = _node(publish_js, amqp_url, "support.ticket.closed")
    assert done.returncode == 1
    assert "unroutable" in done.stderr
