"""Command line: ``lectern-session-logger [run|migrate|retention]``.

- ``run`` (default): apply migrations (dbmate), then consume events and serve reads until
  SIGTERM/SIGINT; on the signal it stops consuming, commits and acknowledges the batch
  in hand, and exits.
- ``migrate``: apply migrations only.
- ``retention``: create upcoming partitions and drop expired ones once, then exit.

Configuration comes from the environment (:class:`SessionLoggerSettings`); a bad value
exits with status 2 and names the variable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from lectern import failpoints
from lectern.logging import configure_logging, get_logger
from lectern_session_logger.errors import MigrationError
from lectern_session_logger.settings import SessionLoggerSettings

log = get_logger("lectern_session_logger")


def load_settings() -> SessionLoggerSettings:
    """Read the settings; on a bad value print ``NAME: problem`` lines and exit 2."""
    try:
        return SessionLoggerSettings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
            print(f"invalid configuration: {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


async def serve(settings: SessionLoggerSettings) -> None:
    """Apply migrations, then run the FastStream app until a stop signal."""
    from lectern_session_logger.app import create_app
    from lectern_session_logger.migrations import run_migrations

    await run_migrations(settings)
    await create_app(settings).run()


async def migrate(settings: SessionLoggerSettings) -> None:
    """Apply migrations only."""
    from lectern_session_logger.migrations import run_migrations

    await run_migrations(settings)


async def retention(settings: SessionLoggerSettings) -> None:
    """Run partition upkeep and retention once and print what was dropped."""
    from lectern_session_logger.retention import run_retention_once

    report = await run_retention_once(settings)
    print(
        f"cutoff {report.cutoff.isoformat()}: dropped {len(report.dropped_partitions)} "
        f"partitions {report.dropped_partitions}, {report.default_rows_deleted} default rows, "
        f"{report.sessions_deleted} sessions, {report.documents_deleted} deleted documents"
    )


COMMANDS = {"run": serve, "migrate": migrate, "retention": retention}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``lectern-session-logger``."""
    parser = argparse.ArgumentParser(prog="lectern-session-logger", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    failpoints.configure(settings.lectern_failpoints)
    try:
        asyncio.run(COMMANDS[args.command](settings))
    except MigrationError as exc:
        log.error("migrations.failed", error=str(exc))
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
