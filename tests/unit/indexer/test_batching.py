"""Cross-document batching: full model batches, one flush per group, failures isolated."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lectern_indexer.batching import GroupCommit, TextBatcher
from lectern_indexer.locks import Admission

POISON = "poison"

requests_st = st.lists(
    st.lists(st.sampled_from(["a", "bb", "ccc", "dddd"]), max_size=40), min_size=1, max_size=12
)


class Model:
    """A stand-in model: upper-cases texts, records each call, fails on :data:`POISON`."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def run(self, texts: list[str]) -> list[str]:
        self.calls.append(texts)
        await asyncio.sleep(0)  # the others' submissions interleave here
        if POISON in texts:
            raise ValueError("poisoned batch")
        return [t.upper() for t in texts]


def _tagged(requests: list[list[str]]) -> list[list[str]]:
    """Make every text unique (caller and position), so mixing up results would show."""
    return [[f"{t}-{i}-{j}" for j, t in enumerate(texts)] for i, texts in enumerate(requests)]


@given(requests=requests_st, batch_size=st.integers(1, 20))
@settings(max_examples=80, deadline=None)
def test_concurrent_texts_share_full_batches_and_each_caller_gets_its_own(
    requests: list[list[str]], batch_size: int
):
    requests = _tagged(requests)
    model = Model()
    batcher = TextBatcher(model.run, batch_size)

    async def scenario() -> list[list[str]]:
        return await asyncio.gather(*(batcher.submit(texts) for texts in requests))

    results = asyncio.run(scenario())

    assert results == [[t.upper() for t in texts] for texts in requests]
    total = sum(len(texts) for texts in requests)
    sizes = [len(call) for call in model.calls]
    assert sum(sizes) == total  # every text embedded exactly once
    assert len(sizes) == math.ceil(total / batch_size)  # every call full but the last
    assert all(size == batch_size for size in sizes[:-1])
    flat = [t for texts in requests for t in texts]
    assert [t for call in model.calls for t in call] == flat  # first come, first served


@given(
    requests=requests_st.filter(lambda r: any(r)),
    poisoned=st.sets(st.integers(0, 11)),
    batch_size=st.integers(1, 20),
)
@settings(max_examples=80, deadline=None)
def test_a_failing_callers_texts_fail_only_that_caller(
    requests: list[list[str]], poisoned: set[int], batch_size: int
):
    requests = _tagged(requests)
    for i in poisoned:
        if i < len(requests):
            requests[i].append(POISON)
    model = Model()
    batcher = TextBatcher(model.run, batch_size)

    async def scenario() -> list[list[str] | BaseException]:
        return await asyncio.gather(
            *(batcher.submit(texts) for texts in requests), return_exceptions=True
        )

    results = asyncio.run(scenario())

    for texts, result in zip(requests, results, strict=True):
        if POISON in texts:
            assert isinstance(result, ValueError)
        else:
            assert result == [t.upper() for t in texts]


async def test_a_cancelled_caller_is_skipped_and_the_others_finish():
    started = asyncio.Event()
    release = asyncio.Event()
    seen: list[list[str]] = []

    async def run(texts: list[str]) -> list[str]:
        seen.append(texts)
        started.set()
        await release.wait()
        return texts

    batcher = TextBatcher(run, 2)
    first = asyncio.create_task(batcher.submit(["a", "b"]))
    await started.wait()  # batch 1 runs; the next two wait
    gone = asyncio.create_task(batcher.submit(["x"]))
    kept = asyncio.create_task(batcher.submit(["c"]))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert await first == ["a", "b"]
    assert await kept == ["c"]
    assert seen == [["a", "b"], ["c"]]
    assert gone.cancelled()


def test_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        TextBatcher(Model().run, 0)
    with pytest.raises(ValueError, match="max_writes"):
        GroupCommit(ThreadPoolExecutor(1), lambda: None, 0)


class Log:
    """Writes and flushes as the writer thread did them, in order."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.fail_flush = False

    def apply(self, name: str, fail: bool) -> str:
        self.entries.append(f"apply {name}")
        if fail:
            raise ValueError(f"bad write {name}")
        return name

    def flush(self) -> None:
        if self.fail_flush:
            self.fail_flush = False
            raise OSError("disk full")
        self.entries.append("flush")


@given(failing=st.lists(st.booleans(), min_size=1, max_size=40), max_writes=st.integers(1, 16))
@settings(max_examples=60, deadline=None)
def test_concurrent_writes_share_flushes_and_return_only_once_durable(
    failing: list[bool], max_writes: int
):
    log = Log()
    with ThreadPoolExecutor(1) as writer:
        commits = GroupCommit(writer, log.flush, max_writes)
        durable_when_done: list[bool] = []

        async def one(i: int) -> str:
            name = str(i)
            try:
                return await commits.write(lambda: log.apply(name, failing[i]))
            finally:  # what the writer thread did by the time this caller was answered
                done = log.entries[:]
                applied = done.index(f"apply {name}")
                durable_when_done.append("flush" in done[applied:])

        async def scenario() -> list[str | BaseException]:
            return await asyncio.gather(
                *(one(i) for i in range(len(failing))), return_exceptions=True
            )

        results = asyncio.run(scenario())

    for i, (fail, result) in enumerate(zip(failing, results, strict=True)):
        if fail:
            assert isinstance(result, ValueError)
        else:
            assert result == str(i)
    assert all(durable_when_done)
    assert commits.flushes == log.entries.count("flush") == math.ceil(len(failing) / max_writes)


def test_a_failed_flush_fails_its_group_only():
    log = Log()
    with ThreadPoolExecutor(1) as writer:
        commits = GroupCommit(writer, log.flush, 2)

        async def scenario() -> list[str | BaseException]:
            log.fail_flush = True
            writes = [commits.write(lambda n=n: log.apply(n, False)) for n in "abc"]
            return await asyncio.gather(*writes, return_exceptions=True)

        first, second, third = asyncio.run(scenario())

    assert isinstance(first, OSError)
    assert isinstance(second, OSError)
    assert third == "c"


async def test_admission_bounds_documents_and_refuses_waiters_once_stopping():
    admission = Admission(2)
    release = asyncio.Event()
    outcomes: list[bool] = []

    async def deliver() -> None:
        async with admission.slot() as admitted:
            outcomes.append(admitted)
            if admitted:
                await release.wait()

    async def outcomes_reach(count: int) -> None:
        while True:
            if len(outcomes) >= count:
                return
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(deliver()) for _ in range(5)]
    await outcomes_reach(2)
    assert admission.admitted == 2
    assert outcomes == [True, True]
    await admission.stop()
    await outcomes_reach(5)
    assert outcomes == [True, True, False, False, False]  # waiters refused, not started
    release.set()
    await asyncio.gather(*tasks)
    assert admission.admitted == 0


def test_a_group_waits_for_later_writes_and_stops_waiting_once_full():
    log = Log()
    with ThreadPoolExecutor(1) as writer:
        groups: list[int] = []
        commits = GroupCommit(writer, log.flush, 3, observe=groups.append, max_wait_s=60)

        async def scenario() -> list[str]:
            first = asyncio.create_task(commits.write(lambda: log.apply("a", False)))
            await asyncio.sleep(0)  # the group has started, with one write
            await asyncio.sleep(0)
            later = [commits.write(lambda n=n: log.apply(n, False)) for n in "bc"]
            return await asyncio.gather(first, *later)  # done long before max_wait_s

        assert asyncio.run(scenario()) == ["a", "b", "c"]
    assert groups == [3]
    assert log.entries == ["apply a", "apply b", "apply c", "flush"]
