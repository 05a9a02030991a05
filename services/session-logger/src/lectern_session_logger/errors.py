"""The session-logger's exception hierarchy.

Consumers choose on purpose: :class:`InvalidEventError` is dead-lettered at once,
:class:`StoreUnavailableError` is retried with back-off while the messages stay
unacknowledged in RabbitMQ.
"""

from __future__ import annotations


class SessionLoggerError(Exception):
    """Base class of the session-logger's errors."""


class InvalidEventError(SessionLoggerError):
    """A message can never be stored (not JSON, not an event, or rejected by Postgres)."""


class StoreUnavailableError(SessionLoggerError):
    """Postgres cannot be reached or refused the work for a transient reason."""


class NotFoundError(SessionLoggerError):
    """A read named a session or document the log does not hold."""


class InvalidRequestError(SessionLoggerError):
    """A read request is malformed (bad cursor, bad window)."""


class MigrationError(SessionLoggerError):
    """dbmate could not bring the schema up to date."""
