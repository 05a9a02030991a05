"""RabbitMQ topology: every exchange, queue and routing key, declared once.

Services import these objects instead of spelling names. Work queues are quorum
queues with a delivery limit and a dead-letter exchange (``lectern.dlx``); each has a
dead-letter queue ``<queue>.dlq`` where messages that failed for good are kept for
inspection and replay.

Sources for the queue arguments: RabbitMQ docs "Quorum Queues" (delivery limit,
``x-dead-letter-strategy: at-least-once`` which requires ``x-overflow:
reject-publish``) and "Dead Letter Exchanges".

Indexer commands are sharded so one document is only ever worked on by one indexer
replica at a time: ``lectern.commands`` (``document.*``) feeds the consistent-hash
exchange ``indexer.commands.shards`` (plugin ``rabbitmq_consistent_hash_exchange``),
which hashes the :data:`DOCUMENT_KEY_HEADER` of each command onto one of N shard queues
``indexer.commands.<n>`` (``INDEXER_SHARDS``). Each shard is a quorum queue with
``x-single-active-consumer``: every replica consumes every shard, the broker delivers a
shard to one of them at a time and hands it to another when that one goes away. Sources:
the plugin's README ("Routing on a Header"), RabbitMQ docs "Single Active Consumer".
"""

from __future__ import annotations

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import QuorumQueueArgs

COMMANDS_EXCHANGE_NAME = "lectern.commands"
EVENTS_EXCHANGE_NAME = "lectern.events"
DLX_NAME = "lectern.dlx"

INDEXER_COMMANDS_QUEUE = "indexer.commands"
"""Name prefix of the indexer's shard queues (``indexer.commands.<n>``)."""
INDEXER_SHARDS_EXCHANGE_NAME = "indexer.commands.shards"
"""Consistent-hash exchange spreading ``document.*`` commands over the shard queues."""
DEFAULT_INDEXER_SHARDS = 4
"""Shard queues when ``INDEXER_SHARDS`` is not set; every service must use one value."""
DOCUMENT_KEY_HEADER = "x-lectern-document-id"
"""Header carrying a command's document key (:func:`lectern.contracts.document_key`: the
``document_id`` in ``default``, ``<collection>|<document_id>`` elsewhere), the key the
shards are hashed on.

A producer that omits it still reaches the indexer, but every such command lands in
one shard, whatever its document."""
INDEXER_RPC_QUEUE = "indexer.rpc"
SESSION_LOGGER_EVENTS_QUEUE = "session-logger.events"
SESSION_LOGGER_RPC_QUEUE = "session-logger.rpc"

DELIVERY_LIMIT = 5
"""Redeliveries a quorum queue allows before dead-lettering a message."""

ATTEMPT_HEADER = "x-lectern-attempt"
"""Header carrying how many times a message was already tried (0 on first publish)."""

DEAD_LETTER_REASON_HEADER = "x-lectern-dead-letter-reason"
"""Header set on a message a consumer dead-letters on purpose (invalid input)."""

commands_exchange = RabbitExchange(COMMANDS_EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True)
events_exchange = RabbitExchange(EVENTS_EXCHANGE_NAME, type=ExchangeType.TOPIC, durable=True)
dead_letter_exchange = RabbitExchange(DLX_NAME, type=ExchangeType.TOPIC, durable=True)


def dlq_name(queue: str) -> str:
    """Return the dead-letter queue name for a work queue (``<queue>.dlq``)."""
    return f"{queue}.dlq"


def quorum_work_queue(
    name: str, routing_key: str, *, single_active_consumer: bool = False
) -> RabbitQueue:
    """Build a durable quorum queue that dead-letters to ``lectern.dlx``.

    Args:
        name: queue name; also the dead-letter routing key, so each queue has its DLQ.
        routing_key: binding key on the source exchange (topic pattern, or the weight
            of a consistent-hash binding).
        single_active_consumer: deliver to one consumer at a time (``x-single-active-
            consumer``); the others take over in turn when it goes away.

    Returns:
        The FastStream queue description (declared when a subscriber starts).
    """
    arguments: QuorumQueueArgs = {
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DLX_NAME,
        "x-dead-letter-routing-key": name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    if single_active_consumer:
        arguments["x-single-active-consumer"] = True
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments=arguments,
        routing_key=routing_key,
    )


def dead_letter_queue(work_queue: str) -> RabbitQueue:
    """Build the quorum dead-letter queue bound to ``lectern.dlx`` for ``work_queue``."""
    return RabbitQueue(
        dlq_name(work_queue),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=work_queue,
    )


def indexer_shard_queue_name(shard: int) -> str:
    """Name of indexer shard queue ``shard`` (``indexer.commands.<shard>``)."""
    return f"{INDEXER_COMMANDS_QUEUE}.{shard}"


def indexer_shard_queues(shards: int = DEFAULT_INDEXER_SHARDS) -> list[RabbitQueue]:
    """Build the indexer's shard queues, each bound with weight ``"1"`` (equal shares)."""
    return [
        quorum_work_queue(indexer_shard_queue_name(n), "1", single_active_consumer=True)
        for n in range(shards)
    ]


indexer_shards_exchange = RabbitExchange(
    INDEXER_SHARDS_EXCHANGE_NAME,
    type=ExchangeType.X_CONSISTENT_HASH,
    durable=True,
    arguments={"hash-header": DOCUMENT_KEY_HEADER},
)
session_logger_events_queue = quorum_work_queue(SESSION_LOGGER_EVENTS_QUEUE, "#")
indexer_rpc_queue = RabbitQueue(INDEXER_RPC_QUEUE, durable=True)
session_logger_rpc_queue = RabbitQueue(SESSION_LOGGER_RPC_QUEUE, durable=True)
