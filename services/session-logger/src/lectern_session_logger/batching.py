"""An asyncio micro-batcher: many concurrent callers, one flush per batch.

Each caller submits one item and waits for that item's result. The batcher flushes
when ``max_size`` items are waiting or ``max_wait_s`` after the first of them arrived,
whichever comes first; flushes run one at a time, and items that arrive during a flush
form the next batch (so a slow flush yields bigger batches, not more round trips).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from lectern.logging import get_logger
from lectern_session_logger.errors import StoreUnavailableError

log = get_logger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

Flush = Callable[[list[ItemT]], Awaitable[Sequence[ResultT]]]


class BatcherClosedError(StoreUnavailableError):
    """The batcher stopped before the item was flushed; it was not stored."""


class Batcher(Generic[ItemT, ResultT]):
    """Collect items from concurrent callers and flush them together.

    Args:
        flush: called with each batch (``1..max_size`` items, in arrival order); returns
            one result per item, in the same order. It should not raise: an exception
            fails every caller of the batch with it.
        max_size: items per batch at most.
        max_wait_s: seconds a batch waits to fill, from its first item.
    """

    def __init__(self, flush: Flush[ItemT, ResultT], *, max_size: int, max_wait_s: float) -> None:
        self._flush = flush
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._items: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._first_at = 0.0
        self._has_items = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Items waiting for a flush (not counting the batch being flushed)."""
        return len(self._items)

    def start(self) -> None:
        """Start the flushing task (call once, inside the running event loop)."""
        self._task = asyncio.create_task(self._run(), name="batcher")

    async def submit(self, item: ItemT) -> ResultT:
        """Add ``item`` to the next batch and wait for its result.

        Raises:
            BatcherClosedError: the batcher was closed before the item was flushed.
        """
        return await self.enqueue(item)

    def enqueue(self, item: ItemT) -> asyncio.Future[ResultT]:
        """Add ``item`` to the next batch; return the future of its result.

        The future fails with :class:`BatcherClosedError` if the batcher closes before
        the item is flushed.

        Raises:
            BatcherClosedError: the batcher is not running.
        """
        if self._closing or self._task is None:
            raise BatcherClosedError("batcher is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        if not self._items:
            self._first_at = loop.time()
        self._items.append((item, future))
        self._has_items.set()
        if len(self._items) >= self._max_size:
            self._full.set()
        return future

    async def close(self, timeout: float = 5.0) -> None:
        """Flush what is waiting, then stop; give up after ``timeout`` seconds.

        Items not flushed by then fail with :class:`BatcherClosedError`.
        """
        self._closing = True
        self._has_items.set()
        self._full.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self._fail(self._items, BatcherClosedError("batcher closed before the flush"))
        self._items = []

    async def _wait_until_due(self) -> None:
        loop = asyncio.get_running_loop()
        while len(self._items) < self._max_size and not self._closing:
            remaining = self._first_at + self._max_wait_s - loop.time()
            if remaining <= 0:
                return
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), remaining)

    async def _run(self) -> None:
        while True:
            await self._has_items.wait()
            if not self._items:
                if self._closing:
                    return
                self._has_items.clear()
                continue
            await self._wait_until_due()
            batch = self._items[: self._max_size]
            self._items = self._items[self._max_size :]
            if not self._items:
                self._has_items.clear()
            await self._flush_batch(batch)

    async def _flush_batch(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except asyncio.CancelledError:
            self._fail(batch, BatcherClosedError("batcher closed during the flush"))
            raise
        except Exception as exc:
            log.exception("batcher.flush_failed", size=len(batch))
            self._fail(batch, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    @staticmethod
    def _fail(batch: list[tuple[ItemT, asyncio.Future[ResultT]]], error: Exception) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)
