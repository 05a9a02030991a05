from __future__ import annotations

import asyncio

from lectern_session_logger.acks import AckCoalescer


class FakeChannel:
    def __init__(self) -> None:
        self.acks: list[tuple[int, bool]] = []
        self.is_closed = False

    async def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        self.acks.append((delivery_tag, multiple))


async def settle_and_flush(coalescer: AckCoalescer, *tags: int) -> None:
    for tag in tags:
        coalescer.settle(tag)
    await coalescer.drain()


async def test_a_committed_batch_is_one_multiple_ack():
    channel = FakeChannel()
    coalescer = AckCoalescer(channel)
    for tag in range(1, 501):
        coalescer.settle(tag)
    await asyncio.sleep(0)
    await coalescer.drain()
    assert channel.acks == [(500, True)]


async def test_a_gap_holds_back_later_tags_until_it_settles():
    channel = FakeChannel()
    coalescer = AckCoalescer(channel)
    await settle_and_flush(coalescer, 1, 2, 4, 5)
    assert channel.acks == [(2, True)]
    await settle_and_flush(coalescer, 3)
    assert channel.acks == [(2, True), (5, True)]
    assert coalescer.acked_through == 5


async def test_tags_already_acked_are_ignored():
    channel = FakeChannel()
    coalescer = AckCoalescer(channel)
    await settle_and_flush(coalescer, 1)
    await settle_and_flush(coalescer, 1)
    assert channel.acks == [(1, True)]


async def test_a_failing_ack_is_logged_not_raised():
    class Closed(FakeChannel):
        async def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
            raise ConnectionError("closed")

    coalescer = AckCoalescer(Closed())
    await settle_and_flush(coalescer, 1)
    assert coalescer.acked_through == 1
