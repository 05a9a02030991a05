"""``ChannelConsumer``: aiormq-level consumption that survives its channel being reopened."""

from __future__ import annotations

import aio_pika
import pytest
from aiormq.abc import DeliveredMessage
from tests.integration.session_logger.conftest import wait_until

from lectern_session_logger.deliveries import ChannelConsumer

pytestmark = pytest.mark.integration

QUEUE = "channel-consumer-test"


async def test_deliveries_arrive_as_aiormq_messages_and_again_after_a_reopen(amqp_url: str):
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=10)
        await channel.declare_queue(QUEUE, durable=True)
        received: list[DeliveredMessage] = []

        async def on_delivery(message: DeliveredMessage) -> None:
            received.append(message)
            await message.channel.basic_ack(message.delivery_tag or 0)

        consumer = ChannelConsumer(channel, QUEUE, on_delivery)
        await consumer.start()
        publisher = await connection.channel()
        await publisher.default_exchange.publish(aio_pika.Message(b"one"), routing_key=QUEUE)

        async def got(count: int) -> bool:
            return len(received) >= count

        await wait_until(lambda: got(1))
        assert isinstance(received[0], DeliveredMessage)  # no aio-pika wrapper per delivery
        first_channel = received[0].channel
        # An ack of a tag never delivered is a channel error: the broker closes the
        # channel, aio-pika's robust channel reopens it, the consumer must consume again.
        await first_channel.basic_ack(9999)

        async def reopened() -> bool:
            return (await channel.get_underlay_channel()) is not first_channel

        await wait_until(reopened)
        await publisher.default_exchange.publish(aio_pika.Message(b"two"), routing_key=QUEUE)
        await wait_until(lambda: got(2))
        assert received[1].body == b"two"
        assert received[1].channel is not first_channel
        await consumer.stop()
        await publisher.default_exchange.publish(aio_pika.Message(b"three"), routing_key=QUEUE)
        queue = await publisher.declare_queue(QUEUE, durable=True, passive=True)

        async def waiting_unconsumed() -> bool:
            declared = await publisher.declare_queue(QUEUE, durable=True, passive=True)
            result = declared.declaration_result
            return result.message_count == 1 and result.consumer_count == 0

        await wait_until(waiting_unconsumed)
        assert len(received) == 2
        await queue.delete(if_unused=False, if_empty=False)
