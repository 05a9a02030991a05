"""``lectern-indexer``: consume indexer commands and answer searches until SIGTERM.

On SIGINT/SIGTERM FastStream stops consuming, waits up to ``SHUTDOWN_GRACE_S`` for
in-flight messages to be settled, then the store is flushed and closed.
"""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from lectern import failpoints
from lectern.logging import configure_logging
from lectern_indexer.app import create_app
from lectern_indexer.settings import IndexerSettings


def load_settings() -> IndexerSettings:
    """Read settings from the environment, exiting with a readable message if invalid."""
    try:
        return IndexerSettings()
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        sys.exit("lectern-indexer: invalid configuration\n" + "\n".join(lines))


def main() -> None:
    """Run the indexer on the standard asyncio event loop."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    failpoints.configure(settings.lectern_failpoints)
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
