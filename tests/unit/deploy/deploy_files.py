"""Where the deployment files and the validators' binaries are, and how to read them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
DOCKERFILES = sorted((REPO_ROOT / "deploy").glob("**/Dockerfile*"))
DOCKERFILES = [path for path in DOCKERFILES if not path.name.endswith(".dockerignore")]
SERVICES = ("gateway", "indexer", "session-logger")


def venv_tool(name: str) -> Path:
    """Return the console script ``name`` of the running virtual environment.

    The validators are dev dependencies (root ``pyproject.toml``), so they sit beside the
    interpreter; a missing one fails the test instead of skipping it.
    """
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is not installed beside {sys.executable}: run make install"
    return path


OFFLINE_ENV = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "",
}
"""Proxies on the closed discard port: a tool that tried to download (a schema) would fail."""


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a local binary offline (:data:`OFFLINE_ENV`), capturing its output as text."""
    return subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **OFFLINE_ENV},
    )


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of ``path``."""
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def write_documents(path: Path, documents: list[dict[str, Any]]) -> Path:
    """Write ``documents`` to ``path`` as a multi-document YAML file and return it."""
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path
