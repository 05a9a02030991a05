from __future__ import annotations

import asyncio
import time

import pytest

from lectern_session_logger.batching import Batcher, BatcherClosedError

GIVE_UP_S = 30
"""Deadline after which a test gives up waiting (never an assertion on speed)."""


class Recorder:
    """Records batches; with ``hold``, each flush waits until ``release`` is set."""

    def __init__(self, hold: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.flushing = asyncio.Event()
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.flushing.set()
        await self.release.wait()
        return [item * 10 for item in items]


async def test_full_batches_flush_at_once_and_results_match_items():
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=4, max_wait_s=3600)
    batcher.start()
    async with asyncio.timeout(GIVE_UP_S):  # full batches never wait for max_wait_s
        results = await asyncio.gather(*(batcher.submit(n) for n in range(8)))
    assert results == [n * 10 for n in range(8)]
    assert recorder.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    await batcher.close()


async def test_partial_batch_flushes_after_max_wait():
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=100, max_wait_s=0.05)
    batcher.start()
    started = time.monotonic()
    async with asyncio.timeout(GIVE_UP_S):
        assert await asyncio.gather(batcher.submit(1), batcher.submit(2)) == [10, 20]
    assert time.monotonic() - started >= 0.05  # not before max_wait_s
    assert recorder.batches == [[1, 2]]
    await batcher.close()


async def test_items_arriving_during_a_flush_form_the_next_batch():
    recorder = Recorder(hold=True)
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=100, max_wait_s=0.01)
    batcher.start()
    first = batcher.enqueue(0)
    async with asyncio.timeout(GIVE_UP_S):
        await recorder.flushing.wait()  # the first flush is running
    rest = [batcher.enqueue(n) for n in range(1, 6)]
    recorder.release.set()
    async with asyncio.timeout(GIVE_UP_S):
        await asyncio.gather(first, *rest)
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]
    await batcher.close()


async def test_close_flushes_what_is_waiting_then_refuses():
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=100, max_wait_s=60)
    batcher.start()
    pending = batcher.enqueue(7)
    await batcher.close()
    assert await pending == 70
    with pytest.raises(BatcherClosedError):
        await batcher.submit(8)


async def test_close_gives_up_on_a_stuck_flush():
    recorder = Recorder(hold=True)  # never released: the flush is stuck
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=1, max_wait_s=0.01)
    batcher.start()
    pending = batcher.enqueue(1)
    async with asyncio.timeout(GIVE_UP_S):
        await recorder.flushing.wait()
    await batcher.close(timeout=0.1)
    with pytest.raises(BatcherClosedError):
        await pending


async def test_a_raising_flush_fails_its_callers_only():
    calls = 0

    async def flaky(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return items

    batcher: Batcher[int, int] = Batcher(flaky, max_size=1, max_wait_s=0.01)
    batcher.start()
    with pytest.raises(RuntimeError):
        await batcher.submit(1)
    assert await batcher.submit(2) == 2
    await batcher.close()


async def test_items_of_one_batch_share_one_future_with_their_indexes():
    recorder = Recorder(hold=True)
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=3, max_wait_s=3600)
    batcher.start()
    added = [batcher.add(n) for n in range(5)]
    futures = {id(future) for future, _ in added}
    assert len(futures) == 2  # [0, 1, 2] and [3, 4]: one future per batch, not per item
    assert [index for _, index in added] == [0, 1, 2, 0, 1]
    await asyncio.wait_for(recorder.flushing.wait(), GIVE_UP_S)
    recorder.release.set()
    first, _ = added[0]
    assert await asyncio.wait_for(first, GIVE_UP_S) == [0, 10, 20]
    await batcher.close()
    last, index = added[4]
    assert (await last)[index] == 40


async def test_a_flush_with_the_wrong_number_of_results_fails_its_batch():
    async def short(items: list[int]) -> list[int]:
        return items[:1]  # one result, whatever the batch's size

    batcher: Batcher[int, int] = Batcher(short, max_size=2, max_wait_s=0.01)
    batcher.start()
    future, _ = batcher.add(1)
    batcher.add(2)
    with pytest.raises(ValueError, match="1 results for 2"):
        await asyncio.wait_for(future, GIVE_UP_S)
    assert await asyncio.wait_for(batcher.submit(3), GIVE_UP_S) == 3
    await batcher.close()
