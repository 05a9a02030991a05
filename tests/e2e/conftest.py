"""Run the three Lectern services as real processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    DENSE_MODEL_PATH,
    REPO_ROOT,
    SPARSE_MODEL_PATH,
    drop_database,
    drop_vhost,
    make_database,
    make_vhost,
)

SERVICES = ("gateway", "indexer", "session-logger")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """The three services as subprocesses sharing one vhost, database and Qdrant folder."""

    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    def start(self, name: str) -> None:
        with open(self.logs / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                [str(REPO_ROOT / ".venv" / "bin" / f"lectern-{name}")],
                env=self.env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return int(process.returncode)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")
            try:
                response = httpx.get(f"{self.base_url}/health/ready", timeout=5)
                if response.status_code == 200:
                    return
                last = response.json()
            except httpx.TransportError as exc:
                last = exc
            time.sleep(0.5)
        raise TimeoutError(f"stack not ready: {last}\n" + "\n".join(map(self.log_tail, SERVICES)))

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name} ---\n" + "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Start gateway, indexer and session-logger on a fresh vhost, database and store."""
    vhost, amqp_url = make_vhost()
    database, database_url = make_database()
    env = {
        **os.environ,
        "RABBITMQ_URL": amqp_url,
        "DATABASE_URL": database_url,
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "EMBEDDING_MODEL_PATH": str(DENSE_MODEL_PATH),
        "SPARSE_MODEL_PATH": str(SPARSE_MODEL_PATH),
        "GATEWAY_PORT": str(free_port()),
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
    }
    env.pop("QDRANT_URL", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Stack(env=env, logs=logs)
    try:
        for name in SERVICES:
            running.start(name)
        running.wait_ready()
        yield running
    finally:
        for name in list(running.processes):
            running.stop(name)
        drop_database(database)
        drop_vhost(vhost)
