"""``lectern.broker.connect``: a connection whose handshake fails is closed at once."""

from __future__ import annotations

import socket

import aio_pika
import pytest

from lectern import broker


class RecordingConnection(aio_pika.Connection):
    """An aio-pika connection that remembers every instance made."""

    made: list[RecordingConnection] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        RecordingConnection.made.append(self)


async def test_a_refused_connection_is_closed_not_left_to_the_garbage_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aio-pika's own connect() leaves it to __del__, which schedules close() on whatever
    # loop runs the collector ("coroutine 'Connection.close' was never awaited")
    monkeypatch.setattr(aio_pika, "Connection", RecordingConnection)
    RecordingConnection.made.clear()
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"amqp://guest:guest@127.0.0.1:{closed.getsockname()[1]}/"
        with pytest.raises((aio_pika.exceptions.AMQPConnectionError, OSError)):
            await broker.connect(url, timeout=5.0)
    assert len(RecordingConnection.made) == 1
    assert RecordingConnection.made[0].is_closed


async def test_a_connection_that_succeeds_is_returned_open(amqp_url: str) -> None:
    connection = await broker.connect(amqp_url, timeout=5.0)
    try:
        assert not connection.is_closed
    finally:
        await connection.close()
