from __future__ import annotations

import asyncio
import time

import pytest

from lectern_session_logger.batching import Batcher, BatcherClosedError


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        return [item * 10 for item in items]


async def test_full_batches_flush_at_once_and_results_match_items():
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=4, max_wait_s=10)
    batcher.start()
    started = time.monotonic()
    results = await asyncio.gather(*(batcher.submit(n) for n in range(8)))
    assert time.monotonic() - started < 1
    assert results == [n * 10 for n in range(8)]
    assert recorder.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    await batcher.close()


async def test_partial_batch_flushes_after_max_wait():
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=100, max_wait_s=0.05)
    batcher.start()
    started = time.monotonic()
    assert await asyncio.gather(batcher.submit(1), batcher.submit(2)) == [10, 20]
    assert 0.04 <= time.monotonic() - started < 1
    assert recorder.batches == [[1, 2]]
    await batcher.close()


async def test_items_arriving_during_a_flush_form_the_next_batch():
    recorder = Recorder(delay=0.1)
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=100, max_wait_s=0.01)
    batcher.start()
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0.05)  # the first flush is running
    rest = [asyncio.create_task(batcher.submit(n)) for n in range(1, 6)]
    await asyncio.gather(first, *rest)
    assert recorder.batches == [[0], [1, 2, 3, 4, 5]]
    await batcher.close()


async def test_close_flushes_what_is_waiting_then_refuses():
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher(recorder.flush, max_size=100, max_wait_s=60)
    batcher.start()
    pending = asyncio.create_task(batcher.submit(7))
    await asyncio.sleep(0.01)
    await batcher.close()
    assert await pending == 70
    with pytest.raises(BatcherClosedError):
        await batcher.submit(8)


async def test_close_gives_up_on_a_stuck_flush():
    async def stuck(items: list[int]) -> list[int]:
        await asyncio.sleep(3600)
        return items

    batcher: Batcher[int, int] = Batcher(stuck, max_size=1, max_wait_s=0.01)
    batcher.start()
    pending = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.05)
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
