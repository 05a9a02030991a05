"""Run partition upkeep and retention once: ``python -m lectern_session_logger.retention``.

Also ``lectern-session-logger retention``. Exits non-zero when Postgres fails.
"""

from __future__ import annotations

import asyncpg

from lectern_session_logger.maintenance import run_maintenance
from lectern_session_logger.partitions import RetentionReport
from lectern_session_logger.settings import SessionLoggerSettings


async def run_retention_once(settings: SessionLoggerSettings) -> RetentionReport:
    """Connect, create upcoming partitions, drop expired ones, and return the report.

    Raises:
        OSError, asyncpg.PostgresError: Postgres failed.
    """
    connection = await asyncpg.connect(
        settings.database_url, statement_cache_size=settings.db_statement_cache_size
    )
    try:
        return await run_maintenance(connection, settings)
    finally:
        await connection.close()


def main() -> None:
    """Entry point of ``python -m lectern_session_logger.retention``."""
    from lectern_session_logger.__main__ import main as cli_main

    cli_main(["retention"])


if __name__ == "__main__":
    main()
