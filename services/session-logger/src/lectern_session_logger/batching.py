"""An asyncio micro-batcher: many concurrent callers, one flush per batch.

Each caller submits one item and gets its result. The batcher flushes when
``max_size`` items are waiting or ``max_wait_s`` after the first of them arrived,
whichever comes first; flushes run one at a time, and items that arrive during a flush
form the next batch (so a slow flush yields bigger batches, not more round trips).

A batch has one future, for the results of all its items: :meth:`Batcher.add` returns
it with the item's index, so a caller that handles its items a batch at a time (the
event consumer: one ack per batch) pays for one future and one callback per batch,
not per item. :meth:`Batcher.enqueue` and :meth:`Batcher.submit` give one item's result.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from lectern.logging import get_logger
from lectern_session_logger.errors import StoreUnavailableError

log = get_logger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

Flush = Callable[[list[ItemT]], Awaitable[Sequence[ResultT]]]
BatchFuture = asyncio.Future[Sequence[ResultT]]
"""Results of one batch, one per item in the order they were added."""


class BatcherClosedError(StoreUnavailableError):
    """The batcher stopped before the item was flushed; it was not stored."""


@dataclass(slots=True)
class _Batch(Generic[ItemT, ResultT]):
    future: BatchFuture[ResultT]
    first_at: float
    items: list[ItemT] = field(default_factory=list)


class Batcher(Generic[ItemT, ResultT]):
    """Collect items from concurrent callers and flush them together.

    Args:
        flush: called with each batch (``1..max_size`` items, in arrival order); returns
            one result per item, in the same order. It should not raise: an exception
            fails the whole batch with it.
        max_size: items per batch at most.
        max_wait_s: seconds a batch waits to fill, from its first item.
    """

    def __init__(self, flush: Flush[ItemT, ResultT], *, max_size: int, max_wait_s: float) -> None:
        self._flush = flush
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._open: deque[_Batch[ItemT, ResultT]] = deque()
        self._has_items = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Items waiting for a flush (not counting the batch being flushed)."""
        return sum(len(batch.items) for batch in self._open)

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
        """Add ``item`` to the next batch; return the future of its own result.

        The future fails with :class:`BatcherClosedError` if the batcher closes before
        the item is flushed.

        Raises:
            BatcherClosedError: the batcher is not running.
        """
        batch, index = self.add(item)
        one: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()

        def settle(done: BatchFuture[ResultT]) -> None:
            if one.done():
                return
            if done.cancelled():
                one.cancel()
            elif (error := done.exception()) is not None:
                one.set_exception(error)
            else:
                one.set_result(done.result()[index])

        batch.add_done_callback(settle)
        return one

    def add(self, item: ItemT) -> tuple[BatchFuture[ResultT], int]:
        """Add ``item`` to the next batch; return that batch's future and the item's index.

        The future's result is the batch's results (``result[index]`` is this item's);
        it fails, for every item of the batch, with the flush's exception or with
        :class:`BatcherClosedError` if the batcher closes before the flush.

        Raises:
            BatcherClosedError: the batcher is not running.
        """
        if self._closing or self._task is None:
            raise BatcherClosedError("batcher is not running")
        batch = self._open[-1] if self._open else None
        if batch is None or len(batch.items) >= self._max_size:
            loop = asyncio.get_running_loop()
            batch = _Batch(loop.create_future(), loop.time())
            self._open.append(batch)
            self._has_items.set()
        batch.items.append(item)
        if len(batch.items) >= self._max_size:
            self._full.set()
        return batch.future, len(batch.items) - 1

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
        while self._open:
            _fail(self._open.popleft(), BatcherClosedError("batcher closed before the flush"))

    async def _wait_until_due(self, batch: _Batch[ItemT, ResultT]) -> None:
        loop = asyncio.get_running_loop()
        while len(batch.items) < self._max_size and not self._closing:
            remaining = batch.first_at + self._max_wait_s - loop.time()
            if remaining <= 0:
                return
            self._full.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), remaining)

    async def _run(self) -> None:
        while True:
            await self._has_items.wait()
            if not self._open:
                if self._closing:
                    return
                self._has_items.clear()
                continue
            batch = self._open[0]
            await self._wait_until_due(batch)
            self._open.popleft()
            if not self._open:
                self._has_items.clear()
            await self._flush_batch(batch)

    async def _flush_batch(self, batch: _Batch[ItemT, ResultT]) -> None:
        try:
            results = await self._flush(batch.items)
            if len(results) != len(batch.items):
                raise ValueError(f"flush returned {len(results)} results for {len(batch.items)}")
        except asyncio.CancelledError:
            _fail(batch, BatcherClosedError("batcher closed during the flush"))
            raise
        except Exception as exc:
            log.exception("batcher.flush_failed", size=len(batch.items))
            _fail(batch, exc)
            return
        if not batch.future.done():
            batch.future.set_result(results)


def _fail(batch: _Batch[ItemT, ResultT], error: BaseException) -> None:
    if not batch.future.done():
        batch.future.set_exception(error)
