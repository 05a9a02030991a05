"""Per-key asyncio locks, and the admission of documents into the indexer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLock:
    """Serialises work per key (a document id) inside one process."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the duration of the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class Admission:
    """Lets at most ``limit`` documents be worked on at once, and none once stopping.

    A delivery waits for a slot; after :meth:`stop` every waiting and later delivery is
    refused (``False``), so at shutdown only the admitted documents are finished and the
    rest go back to the queue unacknowledged (the broker redelivers them when the channel
    closes), instead of being started against the shutdown grace period.

    Args:
        limit: documents admitted at once (>= 1).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.admitted = 0
        self.stopping = False
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[bool]:
        """Wait for a slot; yield ``True`` while holding it, or ``False`` once stopping."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.stopping or self.admitted < self.limit)
            if self.stopping:
                admitted = False
            else:
                self.admitted += 1
                admitted = True
        try:
            yield admitted
        finally:
            if admitted:
                async with self._changed:
                    self.admitted -= 1
                    self._changed.notify_all()  # not notify(): a cancelled waiter would lose it

    async def stop(self) -> None:
        """Refuse every delivery not admitted yet (waiting ones are woken and refused)."""
        async with self._changed:
            self.stopping = True
            self._changed.notify_all()
