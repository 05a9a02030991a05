"""The OpenAPI document tells the truth: schemathesis against the live stack.

The three services run as processes (real RabbitMQ, Postgres, Qdrant Edge, the model);
schemathesis reads ``/schema/openapi.json`` and runs every check on every operation,
with a bounded number of examples and a fixed seed, so a run is repeatable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_database, drop_vhost, make_database, make_vhost
from tests.e2e.conftest import Stack
from tests.faults.harness import SERVICE_NAMES, ServiceGroup, free_port, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

API_KEY = "schemathesis-key-0123456789"
MAX_EXAMPLES = 15
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"
"""Every check is on by default; the file names the few documented exemptions."""
SEED = 20261201


@pytest.fixture
def keyed_stack(tmp_path: Path) -> Iterator[Stack]:
    """The stack with ``API_KEYS`` set (so auth is exercised) and no practical rate limit."""
    vhost, amqp_url = make_vhost()
    database, database_url = make_database()
    env = service_env(
        rabbitmq_url=amqp_url,
        database_url=database_url,
        qdrant_path=tmp_path / "qdrant",
        gateway_port=free_port(),
        API_KEYS=API_KEY,
        RATE_LIMIT_PER_MINUTE="1000000",
        AUTH_FAILURES_PER_MINUTE="1000000",
        MAX_BODY_BYTES="65536",
    )
    group = ServiceGroup(tmp_path / "logs")
    try:
        for name in SERVICE_NAMES:
            group.start(name, env)
        group["gateway"].wait_http_ok("/health/ready", timeout=180)
        yield Stack(env=env, group=group)
    except Exception:
        print(group.log_tails())
        raise
    finally:
        group.close()
        drop_database(database)
        drop_vhost(vhost)


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is a dev dependency: uv sync --all-packages"
    return found


def test_openapi_document_holds_against_the_live_gateway(keyed_stack: Stack, tmp_path: Path):
    command = [
        _schemathesis(),
        f"--config-file={CONFIG}",
        "run",
        f"{keyed_stack.base_url}/schema/openapi.json",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--generation-deterministic",
        "--workers=1",
        "--request-timeout=30",
        "--no-color",
        f"--header=X-API-Key: {API_KEY}",
        "--suppress-health-check=too_slow,filter_too_much",
        f"--report-dir={tmp_path / 'report'}",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=os.environ | {"SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
    )
    print(result.stdout[-80000:])
    if result.returncode != 0:
        print(result.stderr[-5000:])
        print(keyed_stack.log_tail("gateway", 60))
    assert result.returncode == 0, "schemathesis found failures (see the output above)"
