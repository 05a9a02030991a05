"""Entry point of the ``lectern`` command."""

from __future__ import annotations

from lectern_cli.app import app


def main() -> None:
    """Run the ``lectern`` command line."""
    app()


if __name__ == "__main__":
    main()
