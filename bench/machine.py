"""The machine a benchmark ran on: cores, memory, load and the versions that matter."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = {
    "Qdrant Edge": "qdrant-edge-py",
    "fastembed": "fastembed",
    "ONNX Runtime": "onnxruntime",
    "FastStream": "faststream",
    "Litestar": "litestar",
}
"""Report label -> distribution name."""


def _command(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc.__class__.__name__})"
    return result.stdout.strip() or f"unknown (exit {result.returncode})"


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (``unknown`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> str:
    """Total memory from ``/proc/meminfo``, in GiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def describe(database_url: str) -> dict[str, str]:
    """Cores, memory, load and versions (Python, RabbitMQ, Postgres, packages).

    Args:
        database_url: any database of the Postgres server used (``SHOW server_version``).
    """
    versions = {label: metadata.version(name) for label, name in PACKAGES.items()}
    one, five, _ = os.getloadavg()
    return {
        "cores": f"{os.cpu_count()} ({cpu_model()})",
        "memory": memory_gib(),
        "load average at start (1 min, 5 min)": f"{one:.2f}, {five:.2f}",
        "Python": platform.python_version(),
        "RabbitMQ": _command(["rabbitmqctl", "-q", "version"]),
        "PostgreSQL": _command(["psql", database_url, "-Atc", "SHOW server_version"]),
        **versions,
    }
