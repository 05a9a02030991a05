"""The asyncpg connection pool and the classification of database failures.

TLS comes from the URL (``?sslmode=require`` for Neon; asyncpg and dbmate both read
it). ``DB_STATEMENT_CACHE_SIZE=0`` turns asyncpg's prepared-statement cache off, which
PgBouncer in transaction mode (Neon's pooled host) requires.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from lectern_session_logger.settings import SessionLoggerSettings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    AnyConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
    """A plain connection or one borrowed from the pool."""

TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "55", "57", "58"})
"""SQLSTATE classes worth retrying: connection exception, transaction rollback
(serialization, deadlock), insufficient resources, object not in prerequisite state
(lock not available), operator intervention (shutdown), system error. Source: the
PostgreSQL manual, appendix A "PostgreSQL Error Codes"."""

DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
"""SQLSTATE classes caused by the data of one row: data exception, integrity
constraint violation, program limit exceeded (row too large)."""


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads, format="text"
    )


async def create_pool(settings: SessionLoggerSettings) -> asyncpg.Pool:
    """Open the pool described by ``settings`` (``DB_POOL_MIN``..``DB_POOL_MAX``).

    Raises:
        OSError, asyncpg.PostgresError: Postgres cannot be reached.
    """
    pool: asyncpg.Pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        statement_cache_size=settings.db_statement_cache_size,
        command_timeout=settings.db_command_timeout_s,
        init=_init_connection,
    )
    return pool


def sqlstate_of(error: BaseException) -> str | None:
    """Return the five-character SQLSTATE of an asyncpg error, if it has one."""
    state: Any = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_data_error(error: BaseException) -> bool:
    """Whether ``error`` was caused by the data written (so retrying cannot help)."""
    if isinstance(error, asyncpg.InterfaceError) and isinstance(error, ValueError):
        return True  # an argument asyncpg could not encode (asyncpg's client DataError)
    state = sqlstate_of(error)
    return state is not None and state[:2] in DATA_SQLSTATE_CLASSES


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` means "Postgres is unavailable right now" (retry later).

    Connection failures (``OSError``, :class:`asyncpg.InterfaceError`, timeouts) and
    the SQLSTATE classes of :data:`TRANSIENT_SQLSTATE_CLASSES` are transient.
    """
    if is_data_error(error):
        return False
    if isinstance(
        error,
        OSError
        | TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.InternalClientError,
    ):
        return True
    state = sqlstate_of(error)
    return state is not None and state[:2] in TRANSIENT_SQLSTATE_CLASSES
