"""``/v1/admin/dead-letters``: operators list and replay dead-lettered messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import aio_pika
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lectern.logging import get_logger
from lectern_gateway.backends import Backends
from lectern_gateway.deadletters.service import DeadLetterAdmin, UnknownQueueError
from lectern_gateway.errors import NotFoundError, ServiceUnavailableError

log = get_logger(__name__)

QueueName = Annotated[str, PathParameter(pattern=r"^[a-z0-9][a-z0-9._-]{0,200}$", max_length=201)]


class DeadLetterBody(BaseModel):
    """One dead-lettered message (see :class:`~.service.DeadLetter`)."""

    message_id: str | None
    correlation_id: str | None
    routing_key: str | None
    reason: str
    attempts: int
    dead_lettered_at: datetime | None
    body_preview: str
    body_bytes: int


class DeadLetterListBody(BaseModel):
    """A DLQ's depth and its oldest messages (``messages`` holds at most ``limit``)."""

    queue: str
    depth: int
    messages: list[DeadLetterBody]


REPLAY_SELECTORS: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["message_ids"],
            "properties": {"message_ids": {"type": "array"}, "all": {"const": False}},
        },
        {
            "required": ["all"],
            "properties": {"all": {"const": True}, "message_ids": {"type": "null"}},
        },
    ]
}
"""JSON Schema of the rule "``message_ids`` or ``all: true``, exactly one"."""


class ReplayBody(BaseModel):
    """Which messages to replay: ``message_ids``, or ``all: true`` (exactly one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=REPLAY_SELECTORS)

    message_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    all: bool = False

    @model_validator(mode="after")
    def _one_selector(self) -> ReplayBody:
        if self.all == (self.message_ids is not None):
            raise ValueError("give either message_ids or all: true")
        return self


class ReplayResultBody(BaseModel):
    """What a replay did: the messages moved from ``queue`` back to ``target``."""

    queue: str
    target: str
    replayed: list[str]
    count: int


def _dlq(queue: str) -> str:
    return queue if queue.endswith(".dlq") else f"{queue}.dlq"


class DeadLetterController(Controller):
    """Dead-letter queues: list their messages with reasons, replay them (admin)."""

    path = "/admin/dead-letters"
    tags = ["admin"]
    opt = {"scope": "admin"}

    @get("/{queue:str}", summary="List a dead-letter queue")
    async def list_dead_letters(
        self,
        queue: QueueName,
        backends: NamedDependency[Backends],
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="messages to show")] = 50,
    ) -> DeadLetterListBody:
        """The DLQ's depth and up to ``limit`` messages, oldest first (left in place).

        ``queue`` is a work queue (``indexer.commands``) or its DLQ
        (``indexer.commands.dlq``).
        """
        dlq = _dlq(queue)
        try:
            depth, messages = await _admin(backends).peek(dlq, limit=limit)
        except UnknownQueueError as exc:
            raise NotFoundError(f"no dead-letter queue {dlq!r}") from exc
        except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
            log.warning("deadletters.list_failed", queue=dlq, error=str(exc))
            raise ServiceUnavailableError("message broker unavailable") from exc
        return DeadLetterListBody(
            queue=dlq,
            depth=depth,
            messages=[DeadLetterBody(**vars(m)) for m in messages],
        )

    @post("/{queue:str}/replay", status_code=200, summary="Replay dead-lettered messages")
    async def replay_dead_letters(
        self, queue: QueueName, data: JSONBody[ReplayBody], backends: NamedDependency[Backends]
    ) -> ReplayResultBody:
        """Move messages back to their work queue with the attempt count reset.

        Idempotent: a message replayed once has left the DLQ, so repeating the same
        replay replays nothing.
        """
        dlq = _dlq(queue)
        ids = None if data.all else data.message_ids
        try:
            replayed = await _admin(backends).replay(dlq, message_ids=ids)
        except UnknownQueueError as exc:
            raise NotFoundError(f"no dead-letter queue {dlq!r} or its work queue") from exc
        except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
            log.warning("deadletters.replay_failed", queue=dlq, error=str(exc))
            raise ServiceUnavailableError("message broker unavailable") from exc
        log.info("deadletters.replayed", queue=dlq, count=len(replayed))
        target = dlq.removesuffix(".dlq")
        return ReplayResultBody(queue=dlq, target=target, replayed=replayed, count=len(replayed))


def _admin(backends: Backends) -> DeadLetterAdmin:
    return DeadLetterAdmin(
        str(backends.settings.rabbitmq_url), timeout=backends.settings.publish_timeout_s
    )
