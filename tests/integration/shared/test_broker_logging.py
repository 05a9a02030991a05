"""FastStream's per-message log lines follow ``LOG_LEVEL`` (``lectern.broker.create_broker``).

FastStream's own default logger (``faststream.access.rabbit``) has level INFO, its own
stdout handler and does not propagate: a broker built without a logger writes
"Received" and "Processed" for every consumed message whatever the root level says
(two lines per search in the indexer). These tests consume one message on a real
RabbitMQ and look for those lines on the root logger and on FastStream's default logger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from faststream.rabbit import RabbitQueue

from lectern.broker import FASTSTREAM_LOGGER, create_broker
from lectern.logging import configure_logging

pytestmark = pytest.mark.integration

FASTSTREAM_DEFAULT_LOGGER = "faststream.access.rabbit"
PER_MESSAGE = {"Received", "Processed"}


class Records(logging.Handler):
    """Keeps ``(logger name, message)`` of every record it sees."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.getMessage()))


@pytest.fixture
def records() -> Iterator[Records]:
    """A recorder on the root logger and FastStream's default one; both restored after."""
    loggers = [logging.getLogger(), logging.getLogger(FASTSTREAM_DEFAULT_LOGGER)]
    saved = [(lg, lg.handlers[:], lg.level) for lg in loggers]
    recorder = Records()
    yield recorder
    for lg, handlers, level in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)


async def per_message_lines(amqp_url: str, recorder: Records) -> list[tuple[str, str]]:
    """Consume one message on a fresh broker; the per-message lines logged meanwhile."""
    broker = create_broker(amqp_url)
    handled = asyncio.Event()

    @broker.subscriber(RabbitQueue("lectern.test.logging", auto_delete=True))
    async def handle(body: bytes) -> None:
        handled.set()

    for name in ("", FASTSTREAM_DEFAULT_LOGGER):
        logging.getLogger(name or None).addHandler(recorder)
    async with broker:
        await broker.start()
        await broker.publish(b"hello", "lectern.test.logging")
        async with asyncio.timeout(30):
            await handled.wait()
    return [(name, line) for name, line in recorder.lines if line in PER_MESSAGE]


async def test_warning_level_drops_the_per_message_lines(amqp_url: str, records: Records) -> None:
    configure_logging("WARNING", json=True)
    assert await per_message_lines(amqp_url, records) == []


async def test_info_level_logs_them_through_the_service_logger(
    amqp_url: str, records: Records
) -> None:
    configure_logging("INFO", json=True)
    lines = await per_message_lines(amqp_url, records)
    assert lines == [(FASTSTREAM_LOGGER, "Received"), (FASTSTREAM_LOGGER, "Processed")]
