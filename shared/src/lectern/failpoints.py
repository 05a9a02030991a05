"""Failpoints: named places where a fault test can make a process crash on purpose.

A failpoint does nothing unless the process was started with it armed in
``LECTERN_FAILPOINTS`` (a comma-separated list of ``name`` or ``name=value``, where
``value`` may list several values as ``a|b``). The
fault suite uses them to hit windows that are too narrow to reach by killing from
outside, such as "after the Postgres commit, before the RabbitMQ ack". The technique is
that of FreeBSD's ``fail(9)`` and TiKV's ``fail-rs``.

Armed failpoints end the process at once with ``os._exit`` (no clean-up, no acks), the
way ``kill -9`` would. Never arm them in production.
"""

from __future__ import annotations

import os
import sys

from lectern.logging import get_logger

log = get_logger(__name__)

CRASH_EXIT_CODE = 70
"""Exit status of a process ended by a failpoint (``EX_SOFTWARE``)."""

_armed: dict[str, str] = {}


def configure(spec: str) -> None:
    """Arm the failpoints named in ``spec`` (``"a,b=doc-1"``); an empty spec disarms all."""
    _armed.clear()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        _armed[name.strip()] = value.strip()
    if _armed:
        log.warning("failpoints.armed", failpoints=sorted(_armed))


class FailpointError(RuntimeError):
    """Raised by :func:`raise_if`: an unexpected error, as a bug in a handler would raise."""


def _fires(name: str, value: str | None) -> bool:
    if name not in _armed:
        return False
    wanted = _armed[name]
    return not wanted or value in wanted.split("|")


def raise_if(name: str, value: str | None = None) -> None:
    """Raise :class:`FailpointError` if failpoint ``name`` is armed (for ``value``).

    Models a poison message: one that makes its handler fail every time it is tried.

    Raises:
        FailpointError: the failpoint is armed for this value.
    """
    if _fires(name, value):
        raise FailpointError(f"failpoint {name} fired for {value!r}")


def crash_if(name: str, value: str | None = None) -> None:
    """End the process now if failpoint ``name`` is armed (for ``value``, when it has one).

    Args:
        name: the failpoint, e.g. ``"session-logger.after-commit"``.
        value: what this hit is about (a document id...); a failpoint armed with a
            value fires only for that value.
    """
    if not _fires(name, value):
        return
    log.error("failpoints.crash", failpoint=name, value=value)
    sys.stderr.flush()
    os._exit(CRASH_EXIT_CODE)
