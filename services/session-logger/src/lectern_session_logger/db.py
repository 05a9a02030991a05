"""The asyncpg connection pool and the classification of database failures.

TLS comes from the URL (``?sslmode=require`` for Neon; asyncpg and dbmate both read
it). ``DB_STATEMENT_CACHE_SIZE=0`` turns asyncpg's prepared-statement cache off, which
PgBouncer in transaction mode (Neon's pooled host) requires.
"""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from lectern_session_logger.settings import SessionLoggerSettings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    AnyConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
    """A plain connection or one borrowed from the pool."""

TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
"""SQLSTATE classes worth retrying as they are: connection exception (08), transaction
rollback (40001 serialization failure, 40P01 deadlock), insufficient resources (53300
too many connections, 53100 disk full), operator intervention (57P01 admin shutdown,
57P02 crash shutdown, 57P03 cannot connect now, 57014 query cancelled), system error
(58). Source: the PostgreSQL manual, appendix A "PostgreSQL Error Codes"."""

TRANSIENT_SQLSTATES = frozenset({"55P03", "55006"})
"""Single transient codes of otherwise non-transient classes: lock not available,
object in use."""

NOT_TRANSIENT_SQLSTATES = frozenset({"57P04"})
"""Codes of a transient class that an operator must fix: 57P04 database dropped."""

DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
"""SQLSTATE classes caused by the data of one row: data exception, integrity
constraint violation, program limit exceeded (row too large)."""

CONDITION_NAMES = {
    "0A000": "feature_not_supported",
    "25006": "read_only_sql_transaction",
    "28000": "invalid_authorization_specification",
    "28P01": "invalid_password",
    "3D000": "invalid_catalog_name",
    "3F000": "invalid_schema_name",
    "42501": "insufficient_privilege",
    "42703": "undefined_column",
    "42883": "undefined_function",
    "42P01": "undefined_table",
    "57P04": "database_dropped",
}
"""PostgreSQL condition names (appendix A) of the configuration errors a running
service most likely meets; other codes are reported by their SQLSTATE alone."""


class Failure(enum.Enum):
    """What a failed write means for the batch (see :func:`classify`)."""

    DATA = "data"
    """The data of some row: isolate it and dead-letter it."""
    UNAVAILABLE = "unavailable"
    """Postgres is away or busy for now: retry with back-off."""
    BLOCKED = "blocked"
    """Postgres refuses the work until an operator fixes something (a dropped table, a
    revoked grant, a read-only database, a wrong role): hold the batch, report not
    ready, retry with back-off."""


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads, format="text"
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Pool ``reset``: nothing beyond what asyncpg always does on release.

    asyncpg always rolls back an open transaction and drops listeners on release; its
    default reset adds a round trip per release (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``) that this service never needs: it sets no session
    settings, takes only transaction-level advisory locks, declares no cursors outside
    transactions and listens to nothing. The event writer releases a connection per
    batch, so that round trip was one more statement per batch.
    """


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
        reset=_keep_session,
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
    the SQLSTATEs of :data:`TRANSIENT_SQLSTATE_CLASSES` and :data:`TRANSIENT_SQLSTATES`
    (less :data:`NOT_TRANSIENT_SQLSTATES`) are transient.
    """
    if is_data_error(error):
        return False
    state = sqlstate_of(error)
    if state is not None:
        if state in NOT_TRANSIENT_SQLSTATES:
            return False
        return state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES
    return isinstance(
        error,
        OSError
        | TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.InternalClientError,
    )


def classify(error: BaseException) -> Failure:
    """Sort a failed write into :class:`Failure` by its SQLSTATE or exception type.

    Anything neither data nor transient (class 42 schema and privilege errors, 25006
    read-only transaction, 28 authorization, 3D000 unknown database, unknown errors)
    is :attr:`Failure.BLOCKED`: retrying it as is cannot succeed, and dead-lettering
    would lose good events, so it is held for an operator.
    """
    if is_data_error(error):
        return Failure.DATA
    if is_transient(error):
        return Failure.UNAVAILABLE
    return Failure.BLOCKED


def describe_sqlstate(state: str | None) -> str:
    """``"SQLSTATE 42P01 (undefined_table)"``, or ``"no SQLSTATE"`` (for logs and ping)."""
    if state is None:
        return "no SQLSTATE"
    name = CONDITION_NAMES.get(state)
    return f"SQLSTATE {state} ({name})" if name else f"SQLSTATE {state}"
