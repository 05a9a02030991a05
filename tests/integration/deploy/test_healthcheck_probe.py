"""deploy/healthcheck.py as the container runs it: a process against a loopback server."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.unit.deploy.deploy_files import REPO_ROOT

pytestmark = pytest.mark.integration
SCRIPT = REPO_ROOT / "deploy" / "healthcheck.py"


class Endpoint(BaseHTTPRequestHandler):
    """Answers 200 on /health/ready and /metrics, 503 on /unready, 404 elsewhere."""

    def do_GET(self) -> None:
        status = {"/health/ready": 200, "/metrics": 200, "/unready": 503}.get(self.path, 404)
        self.send_response(status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("service", "variable"), [("gateway", "GATEWAY_PORT"), ("indexer", "METRICS_PORT")]
)
def test_healthy_endpoint_exits_0(server_port: int, service: str, variable: str) -> None:
    result = probe({"SERVICE": service, variable: str(server_port)})
    assert result.returncode == 0, result.stderr


def test_unready_endpoint_exits_1(server_port: int) -> None:
    result = probe(
        {"SERVICE": "gateway", "HEALTHCHECK_URL": f"http://127.0.0.1:{server_port}/unready"}
    )
    assert result.returncode == 1
    assert "503" in result.stderr


def test_closed_port_exits_1(server_port: int) -> None:
    result = probe({"SERVICE": "session-logger", "METRICS_PORT": "1"})
    assert result.returncode == 1
    assert result.stderr.startswith("unhealthy:")
