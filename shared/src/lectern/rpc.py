"""Request/reply over RabbitMQ with many requests in flight (aio-pika).

FastStream's ``broker.request`` holds one lock for the whole round trip, which
serialises a process's requests. :class:`RpcClient` instead keeps one exclusive reply
queue per process and matches replies to waiting futures by the AMQP
``correlation_id``, the pattern of the RabbitMQ tutorial "Remote procedure call (RPC)".
Each request carries an ``expiration`` equal to its timeout, so a server never works on
a request nobody awaits any more. A request carries the caller's trace context in its
headers (:func:`lectern.tracing.inject_context`), which the server's FastStream telemetry
middleware continues.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from lectern.logging import get_logger
from lectern.tracing import inject_context

log = get_logger(__name__)

CONSUMER_CACHE_S = 1.0
"""How long a server queue's consumer count is trusted before it is asked again (s)."""


class RpcError(Exception):
    """Base class of request/reply failures."""


class BrokerUnavailableError(RpcError):
    """The broker connection is down; nothing was sent."""


class NoConsumerError(RpcError):
    """No server consumes the target queue: the service is absent."""


class RpcTimeoutError(RpcError):
    """No reply arrived within the request's timeout."""


class RpcClient:
    """Concurrent RPC client over one robust connection and one reply queue.

    Usage::

        client = RpcClient("amqp://guest:guest@127.0.0.1:5672/", name="gateway")
        await client.connect()
        reply: bytes = await client.call("indexer.rpc", body, timeout=5.0)
        await client.close()
    """

    def __init__(self, url: str, *, name: str = "rpc") -> None:
        self._url = url
        self._name = name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._reply_queue: AbstractQueue | None = None
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._consumers: dict[str, tuple[float, int]] = {}

    @property
    def connected(self) -> bool:
        """Whether the connection to the broker is currently open."""
        return (
            self._connection is not None
            and not self._connection.is_closed
            and bool(getattr(self._connection, "connected", asyncio.Event()).is_set())
        )

    async def connect(self, timeout: float = 10.0) -> None:
        """Open the connection, a channel, and the exclusive reply queue.

        Raises:
            aio_pika.exceptions.AMQPConnectionError: the broker cannot be reached.
        """
        self._connection = await aio_pika.connect_robust(
            self._url, timeout=timeout, client_properties={"connection_name": self._name}
        )
        self._channel = await self._connection.channel(publisher_confirms=False)
        self._reply_queue = await self._channel.declare_queue(
            f"{self._name}.replies.{uuid4().hex[:12]}", exclusive=True, auto_delete=True
        )
        await self._reply_queue.consume(self._on_reply, no_ack=True)

    async def close(self) -> None:
        """Fail every waiting request and close the connection."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrokerUnavailableError("RPC client closed"))
        self._pending.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def consumer_count(self, queue: str) -> int:
        """Return how many consumers ``queue`` has, cached for :data:`CONSUMER_CACHE_S`.

        Raises:
            BrokerUnavailableError: the connection is down.
        """
        cached = self._consumers.get(queue)
        now = time.monotonic()
        if cached is not None and now - cached[0] < CONSUMER_CACHE_S:
            return cached[1]
        self._require_channel()
        assert self._connection is not None
        # A passive declare of a missing queue closes its channel, so probe on a
        # short-lived channel of its own: the reply consumer's channel never closes.
        try:
            async with asyncio.timeout(2.0):
                probe = await self._connection.channel(publisher_confirms=False)
                async with probe:
                    declared = await probe.declare_queue(queue, passive=True, robust=False)
        except aio_pika.exceptions.ChannelClosed:
            count = 0
        except (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError) as exc:
            raise BrokerUnavailableError(f"cannot inspect {queue}: {exc!r}") from exc
        else:
            result = declared.declaration_result
            count = int(result.consumer_count or 0) if result is not None else 0
        self._consumers[queue] = (now, count)
        return count

    async def call(
        self,
        queue: str,
        body: bytes,
        *,
        timeout: float,
        headers: dict[str, Any] | None = None,
    ) -> bytes:
        """Send ``body`` to ``queue`` and wait for the matching reply.

        Args:
            queue: the server's queue (default exchange routing).
            body: JSON request body.
            timeout: seconds to wait; also the request's expiration on the broker.
            headers: extra AMQP headers.

        Returns:
            The reply body.

        Raises:
            BrokerUnavailableError: the connection is down.
            NoConsumerError: nobody consumes ``queue``.
            RpcTimeoutError: no reply within ``timeout`` seconds.
        """
        channel = self._require_channel()
        if await self.consumer_count(queue) == 0:
            raise NoConsumerError(f"no consumer on {queue}")
        assert self._reply_queue is not None
        correlation_id = uuid4().hex
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        message = aio_pika.Message(
            body,
            content_type="application/json",
            correlation_id=correlation_id,
            reply_to=self._reply_queue.name,
            expiration=timeout,
            headers=inject_context(dict(headers or {})),  # W3C traceparent when tracing
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        try:
            async with asyncio.timeout(timeout):
                await channel.default_exchange.publish(message, routing_key=queue)
                return await future
        except TimeoutError:
            self._consumers.pop(queue, None)
            raise RpcTimeoutError(f"no reply from {queue} within {timeout:.1f} s") from None
        except aio_pika.exceptions.AMQPError as exc:
            raise BrokerUnavailableError(str(exc)) from exc
        finally:
            self._pending.pop(correlation_id, None)

    def _require_channel(self) -> AbstractRobustChannel:
        if self._channel is None or not self.connected or self._channel.is_closed:
            raise BrokerUnavailableError("not connected to the broker")
        return self._channel

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is None or future.done():
            log.debug("rpc.reply_unmatched", amqp_correlation_id=message.correlation_id)
            return
        future.set_result(message.body)
