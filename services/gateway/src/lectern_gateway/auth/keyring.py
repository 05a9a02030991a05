"""The keys in force: the key file, reloaded when it changes, plus ``API_KEYS``.

The file is checked with ``stat`` at most every ``API_KEYS_RELOAD_S`` seconds, on the
request path (a cheap syscall; no thread, no task). A change of modification time, size
or inode (a Kubernetes Secret volume swaps a symlink) reloads it. A reloaded file that
does not parse keeps the last good keys and logs an ERROR, once per change.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from lectern.logging import get_logger
from lectern_gateway.auth.keys import SCOPES, ApiKey, KeyFile, hash_secret, load_key_file

log = get_logger(__name__)

Stamp = tuple[int, int, int]


def env_keys(secrets: frozenset[str]) -> tuple[ApiKey, ...]:
    """Map ``API_KEYS`` secrets to full-access keys (every scope, every collection).

    The id is ``env-`` and the first 12 hex digits of the secret's SHA-256.
    """
    return tuple(
        ApiKey(id=f"env-{hash_secret(s)[:12]}", sha256=hash_secret(s), scopes=frozenset(SCOPES))
        for s in sorted(secrets)
    )


class KeyRing:
    """The configured keys, with hot reload of the key file.

    Args:
        path: the key file (``API_KEYS_FILE``), or ``None``.
        secrets: the ``API_KEYS`` secrets (full-access keys).
        check_every_s: least seconds between two ``stat`` calls on the file.
        clock: monotonic clock in seconds (tests pass their own).

    Raises:
        KeyFileError: the file cannot be loaded at start-up (the gateway must not start).
    """

    def __init__(
        self,
        path: Path | None,
        secrets: frozenset[str] = frozenset(),
        *,
        check_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._env = env_keys(secrets)
        self._every = check_every_s
        self._clock = clock
        self._checked_at = clock()
        self._stamp: Stamp | None = None
        self._keys = self._merge(KeyFile())
        if path is not None:
            self._stamp = self._stat()
            self._keys = self._merge(load_key_file(path))

    @property
    def open(self) -> bool:
        """True when no key is configured at all (no file, no ``API_KEYS``): open mode.

        A configured but empty key file is not open: it lets nobody in.
        """
        return self._path is None and not self._env

    def _merge(self, loaded: KeyFile) -> KeyFile:
        return KeyFile(limits=loaded.limits, keys=(*loaded.keys, *self._env))

    def _stat(self) -> Stamp | None:
        assert self._path is not None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> KeyFile:
        """The keys in force, reloading the file first if it changed (see module doc)."""
        now = self._clock()
        if self._path is not None and now - self._checked_at >= self._every:
            self._checked_at = now
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                self.reload()
        return self._keys

    def reload(self) -> bool:
        """Load the file now; on failure keep the last good keys and log an ERROR.

        Returns:
            Whether the new file is in force.
        """
        assert self._path is not None
        try:
            loaded = load_key_file(self._path)
        except ValueError as exc:
            log.error("auth.key_file_rejected", path=str(self._path), error=str(exc))
            return False
        self._keys = self._merge(loaded)
        log.info("auth.key_file_loaded", path=str(self._path), keys=len(loaded.keys))
        return True
