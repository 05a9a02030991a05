"""Fixtures shared by every test tree: isolated RabbitMQ vhosts and Postgres databases.

Integration tests never touch the machine's default vhost or ``lectern`` database: each
test session creates its own vhost (``rabbitmqctl``) and database and drops them after.
``RABBITMQ_URL`` / ``DATABASE_URL`` (if set) name the servers to use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
MODELS_DIR = SHARED_DIR / "models"
DENSE_MODEL_PATH = MODELS_DIR / "all-MiniLM-L6-v2-onnx"
SPARSE_MODEL_PATH = MODELS_DIR / "bm25"
GAZEBO_CORPUS = REPO_ROOT / "examples" / "corpus" / "gazebo-docs"
PYTHON_HTML_CORPUS = SHARED_DIR / "corpus" / "python311-html"

BASE_AMQP_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
BASE_DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/lectern")


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def make_vhost() -> tuple[str, str]:
    """Create a fresh vhost with guest permissions; return ``(name, amqp_url)``."""
    name = f"lectern-test-{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    return name, _with_path(BASE_AMQP_URL, "/" + name)


def drop_vhost(name: str) -> None:
    """Delete a vhost made by :func:`make_vhost` (ignores errors)."""
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False, capture_output=True)


def make_database() -> tuple[str, str]:
    """Create a fresh empty database; return ``(name, postgres_url)``."""
    name = f"lectern_test_{uuid.uuid4().hex[:10]}"
    admin = _with_path(BASE_DATABASE_URL, "/postgres")
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    return name, _with_path(BASE_DATABASE_URL, "/" + name)


def drop_database(name: str) -> None:
    """Drop a database made by :func:`make_database`, closing its connections."""
    admin = _with_path(BASE_DATABASE_URL, "/postgres")
    subprocess.run(
        ["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        check=False,
        capture_output=True,
    )


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """A fresh RabbitMQ vhost for one test, deleted afterwards."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl not found: RabbitMQ must be installed for integration tests")
    name, url = make_vhost()
    yield url
    drop_vhost(name)


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh empty Postgres database for one test, dropped afterwards."""
    name, url = make_database()
    yield url
    drop_database(name)
