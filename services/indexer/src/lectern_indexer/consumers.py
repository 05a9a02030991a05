"""Message handlers: decode, call one service function, publish the outcome, settle.

Commands (the shard queues ``indexer.commands.<n>``, manual acknowledgement):

- success: publish ``DocumentIndexed``/``DocumentDeleted``, then ack (the store write is
  already durable, so an ack never loses work; a redelivery is a no-op);
- invalid for good: publish ``DocumentIndexingFailed`` and reject without requeue, which
  dead-letters to the shard's ``.dlq`` through the queue's dead-letter exchange;
- transient (store down, timeout) or unexpected: republish to the next back-off tier of
  :mod:`lectern.retry` and ack; when the tiers are used up, publish a failure and
  dead-letter; if even that republish fails, nack with requeue (the quorum queue's
  delivery limit bounds redeliveries).

RPC (``indexer.rpc``): the reply is the handler's return value (FastStream publishes it to
``reply_to`` with the request's ``correlation_id``); errors are :class:`RpcError` bodies.
"""

from __future__ import annotations

from typing import Any

from faststream.rabbit import RabbitBroker
from faststream.rabbit.message import RabbitMessage

from lectern.broker import publish_event
from lectern.contracts import (
    CollectionCreated,
    CollectionDeleted,
    CollectionRequest,
    CollectionsResponse,
    DeleteDocument,
    DocumentDeleted,
    DocumentIndexed,
    DocumentIndexingFailed,
    Event,
    PingResponse,
    RpcError,
    SearchRequest,
    SearchResponse,
    SentenceScoreRequest,
    SentenceScoreResponse,
)
from lectern.logging import bind_correlation_id, get_logger
from lectern.retry import schedule_retry
from lectern_indexer.commands import Command, InvalidCommandError, parse_command, parse_rpc
from lectern_indexer.errors import InvalidDocumentError, InvalidRequestError, StoreUnavailableError
from lectern_indexer.handling import HandlingRecorder
from lectern_indexer.metrics import COMMANDS, DEAD_LETTERED, RETRIES, observe_ingest
from lectern_indexer.registry import CollectionConflictError, UnknownCollectionError
from lectern_indexer.sentence_scoring import score_sentences
from lectern_indexer.service import IndexerService

log = get_logger(__name__)


class CommandConsumer:
    """Handles ``IngestDocument`` and ``DeleteDocument`` deliveries.

    Args:
        broker: the connected broker (publishes events and retries).
        service: the service layer.
        max_body_bytes: bodies over this size are invalid without decoding.
        work_queue: the shard queue the deliveries come from (retries return to it).
        recorder: records when each document is handled (fault tests), or ``None``.
    """

    def __init__(
        self,
        broker: RabbitBroker,
        service: IndexerService,
        max_body_bytes: int,
        work_queue: str,
        recorder: HandlingRecorder | None = None,
    ) -> None:
        self.broker = broker
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.work_queue = work_queue
        self.recorder = recorder

    async def handle(self, message: RabbitMessage) -> None:
        """Process one delivery and settle it (ack, reject or nack); never raises."""
        raw = message.raw_message
        with bind_correlation_id(raw.correlation_id, message_id=raw.message_id):
            try:
                await self._process(message)
            except Exception:
                log.exception("command.settle_failed")
                await _settle(message.nack(requeue=True))

    async def _process(self, message: RabbitMessage) -> None:
        raw = message.raw_message
        try:
            command = parse_command(raw.body, raw.routing_key, self.max_body_bytes)
        except InvalidCommandError as exc:
            log.warning("command.invalid", reason=str(exc), document_id=exc.document_id)
            failed = DocumentIndexingFailed(
                document_id=exc.document_id,
                collection=exc.collection,
                version=exc.version,
                reason=str(exc),
                correlation_id=exc.correlation_id or raw.correlation_id,
            )
            await self._dead_letter(message, failed)
            return
        if self.recorder is None:
            await self._apply(message, command)
            return
        with self.recorder.handling(command.document_id, str(command.event_id)):
            await self._apply(message, command)

    async def _apply(self, message: RabbitMessage, command: Command) -> None:
        raw = message.raw_message
        correlation_id = command.correlation_id or raw.correlation_id
        version = None if isinstance(command, DeleteDocument) else command.version
        try:
            event = await self._run(command, correlation_id)
        except InvalidDocumentError as exc:
            log.warning("command.rejected", reason=str(exc), document_id=command.document_id)
            failed = DocumentIndexingFailed(
                document_id=command.document_id,
                collection=command.collection,
                version=version,
                reason=str(exc),
                correlation_id=correlation_id,
            )
            await self._dead_letter(message, failed)
            return
        except Exception as exc:
            log.exception("command.transient_failure", document_id=command.document_id)
            await self._retry(message, command, version, correlation_id, exc)
            return
        await publish_event(self.broker, event)
        await message.ack()

    async def _run(self, command: Any, correlation_id: str | None) -> Event:
        if isinstance(command, DeleteDocument):
            deleted = await self.service.delete(command)
            log.info(
                "document.deleted",
                document_id=command.document_id,
                points=deleted.deleted_points,
                superseded=deleted.superseded,
            )
            COMMANDS.labels("delete", "superseded" if deleted.superseded else "deleted").inc()
            return DocumentDeleted(
                document_id=command.document_id,
                collection=command.collection,
                deleted_points=deleted.deleted_points,
                superseded=deleted.superseded,
                correlation_id=correlation_id,
            )
        result = await self.service.ingest(command)
        observe_ingest(command, unchanged=result.unchanged, superseded=result.superseded)
        log.info(
            "document.indexed",
            document_id=result.document_id,
            chunks=result.chunk_count,
            unchanged=result.unchanged,
            superseded=result.superseded,
            duration_ms=round(result.duration_ms, 1),
        )
        return DocumentIndexed(
            document_id=result.document_id,
            collection=command.collection,
            version=result.version,
            chunk_count=result.chunk_count,
            unchanged=result.unchanged,
            superseded=result.superseded,
            duration_ms=result.duration_ms,
            correlation_id=correlation_id,
        )

    async def _dead_letter(self, message: RabbitMessage, failed: DocumentIndexingFailed) -> None:
        await publish_event(self.broker, failed)
        await message.reject(requeue=False)
        DEAD_LETTERED.labels(self.work_queue).inc()

    async def _retry(
        self,
        message: RabbitMessage,
        command: Command,
        version: str | None,
        correlation_id: str | None,
        error: Exception,
    ) -> None:
        raw = message.raw_message
        scheduled = await schedule_retry(
            self.broker,
            work_queue=self.work_queue,
            body=raw.body,
            headers=raw.headers,
            correlation_id=raw.correlation_id,
            message_id=raw.message_id,
        )
        if scheduled:
            await message.ack()
            RETRIES.labels(self.work_queue).inc()
            return
        failed = DocumentIndexingFailed(
            document_id=command.document_id,
            collection=command.collection,
            version=version,
            reason=f"gave up after repeated transient failures: {error}",
            retryable=True,
            correlation_id=correlation_id,
        )
        await self._dead_letter(message, failed)


RpcReply = SearchResponse | SentenceScoreResponse | PingResponse | CollectionsResponse | RpcError


async def manage_collection(
    service: IndexerService, request: CollectionRequest, broker: RabbitBroker | None
) -> CollectionsResponse:
    """Serve a :class:`CollectionRequest`; a create or delete publishes its event first.

    The reply goes out only after ``CollectionCreated``/``CollectionDeleted`` is
    confirmed, so a success at the gateway means the change and its event are durable.
    """
    response = await service.registry.handle(request)
    name = request.name or ""
    event: Event | None = None
    if request.action == "create":
        event = CollectionCreated(collection=name, correlation_id=request.correlation_id)
    elif request.action == "delete":
        event = CollectionDeleted(
            collection=name,
            deleted_points=response.deleted_points,
            correlation_id=request.correlation_id,
        )
    if event is not None and broker is not None:
        await publish_event(broker, event)
    if event is not None:
        log.info(event.event_type, collection=name, deleted_points=response.deleted_points)
    return response


async def answer_rpc(
    service: IndexerService, body: bytes, broker: RabbitBroker | None = None
) -> RpcReply:
    """Answer one RPC body; every failure becomes an :class:`RpcError` reply.

    Args:
        service: the service layer.
        body: the raw RPC body.
        broker: publishes collection events (``None``: none are published, unit tests).

    Returns:
        The request's reply, or ``RpcError`` with status 400 (invalid request), 404
        (unknown collection), 409 (collection conflict), 503 (store unavailable) or 500
        (unexpected).
    """
    try:
        request = parse_rpc(body)
    except InvalidRequestError as exc:
        return RpcError(status=400, title="Invalid request", detail=str(exc))
    with bind_correlation_id(request.correlation_id):
        try:
            if isinstance(request, SearchRequest):
                return await service.search(request)
            if isinstance(request, SentenceScoreRequest):
                return await score_sentences(service.embedder, request)
            if isinstance(request, CollectionRequest):
                return await manage_collection(service, request, broker)
            return await service.ping()
        except UnknownCollectionError as exc:
            return RpcError(status=404, title="Unknown collection", detail=str(exc))
        except CollectionConflictError as exc:
            return RpcError(status=409, title="Collection conflict", detail=str(exc))
        except InvalidRequestError as exc:
            return RpcError(status=400, title="Invalid request", detail=str(exc))
        except StoreUnavailableError as exc:
            log.warning("rpc.store_unavailable", error=str(exc))
            return RpcError(status=503, title="Vector store unavailable", detail=str(exc))
        except Exception as exc:
            log.exception("rpc.failed")
            return RpcError(status=500, title="Indexer error", detail=type(exc).__name__)


async def _settle(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("command.nack_failed")
