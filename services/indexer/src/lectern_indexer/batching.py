"""Cross-document batching: many callers' work done in shared model calls and flushes.

Each ingest runs on its own (its own lock, reads, retries and settlement), but the two
costly steps are shared with whatever other documents are in flight at the same moment:

- :class:`TextBatcher` gathers the chunk texts of concurrent ``embed_documents`` calls,
  first come first served, into model calls of up to ``batch_size`` texts, so one-chunk
  documents fill the ONNX batch as one large document does;
- :class:`GroupCommit` runs the writes of concurrent callers one after another in the
  store's writer thread and flushes once for the group (group commit, as databases do
  for their log: Gray & Reuter, *Transaction Processing*, 1993, section 9.4.7); each
  caller's await returns only after the flush that made its own write durable.

The text batcher does not wait for a batch to fill: the next batch is whatever arrived
while the previous one ran. The group commit does wait, up to ``max_wait_s``, for more
writes once one is queued: the Qdrant Edge binding holds the GIL while it flushes
(measured: the event loop is frozen for the whole flush), so nothing can arrive during a
flush and without the wait each group would hold one or two writes. One caller's failure never fails
another's: a failed model call is retried per caller, and a write that raises fails only
its own caller (a failed flush fails the whole group: none of it is known durable).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")


@dataclass(eq=False)
class _TextRequest(Generic[R]):
    texts: Sequence[str]
    future: asyncio.Future[list[R]]
    results: list[R] = field(default_factory=list)

    @property
    def taken(self) -> int:
        return len(self.results)


class TextBatcher(Generic[R]):
    """Embeds the texts of concurrent callers together, ``batch_size`` texts per call.

    Args:
        run: embeds one batch, returning one result per text in order; it may raise.
        batch_size: most texts per ``run`` call (>= 1).
    """

    def __init__(self, run: Callable[[list[str]], Awaitable[list[R]]], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._run = run
        self.batch_size = batch_size
        self._queue: deque[_TextRequest[R]] = deque()
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, texts: Sequence[str]) -> list[R]:
        """Embed ``texts`` (in order) in batches shared with other callers.

        Returns:
            One result per text, in order (``[]`` for no texts).

        Raises:
            Exception: whatever ``run`` raised for a batch holding only this caller's texts.
        """
        if not texts:
            return []
        request: _TextRequest[R] = _TextRequest(texts, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_queue())
        return await request.future

    async def _drain_queue(self) -> None:
        try:
            while self._queue:
                batch = self._next_batch()
                if batch:
                    await self._run_batch(batch)
        except BaseException as exc:  # a bug here must not leave callers waiting forever
            while self._queue:
                self._fail(self._queue[0], exc)
            raise

    def _next_batch(self) -> list[tuple[_TextRequest[R], int, int]]:
        """Take up to ``batch_size`` texts from the oldest requests: (request, start, end)."""
        batch: list[tuple[_TextRequest[R], int, int]] = []
        room = self.batch_size
        while self._queue and room:
            request = self._queue[0]
            if request.future.done():  # the caller gave up (cancelled)
                self._queue.popleft()
                continue
            start = request.taken  # a request is in a batch at most once
            end = min(len(request.texts), start + room)
            batch.append((request, start, end))
            room -= end - start
            if end == len(request.texts):
                self._queue.popleft()
            else:
                break  # the batch is full; the rest of this request goes next
        return batch

    async def _run_batch(self, batch: list[tuple[_TextRequest[R], int, int]]) -> None:
        texts = [t for request, start, end in batch for t in request.texts[start:end]]
        try:
            results = await self._run(texts)
            if len(results) != len(texts):
                raise RuntimeError(f"{len(results)} results for {len(texts)} texts")
        except Exception as exc:
            if len(batch) == 1:
                self._fail(batch[0][0], exc)
                return
            for part in batch:  # isolate: each caller's texts alone
                await self._run_batch([part])
            return
        offset = 0
        for request, start, end in batch:
            self._deliver(request, results[offset : offset + end - start])
            offset += end - start

    def _deliver(self, request: _TextRequest[R], results: list[R]) -> None:
        if request.future.done():
            return
        request.results.extend(results)
        if request.taken == len(request.texts):
            request.future.set_result(request.results)

    def _fail(self, request: _TextRequest[R], error: BaseException) -> None:
        if request in self._queue:
            self._queue.remove(request)
        _set_error(request.future, error)


@dataclass(eq=False)
class _Write(Generic[T]):
    apply: Callable[[], T]
    future: asyncio.Future[T]


class GroupCommit:
    """Runs concurrent writes in one worker thread and makes a group durable at once.

    Args:
        executor: the store's single writer thread (writes never run concurrently).
        flush: makes every write applied so far durable; blocking, runs in ``executor``.
        max_writes: most writes per group (>= 1), bounding one flush's latency.
        observe: called with each group's size once it is flushed (a metric).
        max_wait_s: longest wait, in seconds, for more writes after the first of a group
            (0: commit at once); ends early when ``max_writes`` are queued.
    """

    def __init__(
        self,
        executor: Executor,
        flush: Callable[[], None],
        max_writes: int,
        observe: Callable[[int], object] | None = None,
        max_wait_s: float = 0.0,
    ) -> None:
        if max_writes < 1:
            raise ValueError("max_writes must be at least 1")
        self.max_wait_s = max_wait_s
        self._arrived = asyncio.Event()
        self._executor = executor
        self._flush = flush
        self.max_writes = max_writes
        self._observe = observe
        self._queue: deque[_Write[Any]] = deque()
        self._drain: asyncio.Task[None] | None = None
        self.flushes = 0
        """Groups flushed so far (diagnostics and tests)."""

    @property
    def pending(self) -> int:
        """Writes queued behind the group being committed (diagnostics and tests)."""
        return len(self._queue)

    async def write(self, apply: Callable[[], T]) -> T:
        """Run ``apply`` in the writer thread; return its result once it is durable.

        Raises:
            Exception: what ``apply`` raised (only this caller's write failed), or what
                the group's flush raised (no write of the group is known durable).
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Write(apply, future))
        self._arrived.set()
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_queue())
        return await future

    async def _drain_queue(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await self._linger()
            group = [self._queue.popleft() for _ in range(min(self.max_writes, len(self._queue)))]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._commit, group)
            except BaseException as exc:  # the flush failed: nothing in the group is durable
                outcomes = [_Failed(exc)] * len(group)
                if not isinstance(exc, Exception):
                    self._settle(group, outcomes)
                    raise
            else:
                if self._observe is not None:
                    self._observe(len(group))
            self._settle(group, outcomes)

    async def _linger(self) -> None:
        """Wait up to ``max_wait_s`` for the group to reach ``max_writes``."""
        if self.max_wait_s <= 0:
            return
        try:
            async with asyncio.timeout(self.max_wait_s):
                while len(self._queue) < self.max_writes:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            pass

    @staticmethod
    def _settle(group: list[_Write[Any]], outcomes: list[Any]) -> None:
        for write, outcome in zip(group, outcomes, strict=True):
            if write.future.done():  # the caller gave up (cancelled or timed out)
                continue
            if isinstance(outcome, _Failed):
                _set_error(write.future, outcome.error)
            else:
                write.future.set_result(outcome)

    def _commit(self, group: list[_Write[Any]]) -> list[Any]:
        """Apply each write (a failure stays its own), then flush once (writer thread)."""
        outcomes: list[Any] = []
        for write in group:
            try:
                outcomes.append(write.apply())
            except Exception as exc:
                outcomes.append(_Failed(exc))
        self._flush()
        self.flushes += 1
        return outcomes


@dataclass(frozen=True)
class _Failed:
    """A write's own exception (distinct from a write that returned an exception)."""

    error: BaseException


def _set_error(future: asyncio.Future[Any], error: BaseException) -> None:
    """Fail ``future`` with ``error`` (cancel it when the drain itself was cancelled)."""
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)
