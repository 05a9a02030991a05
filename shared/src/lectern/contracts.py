"""Message contracts: every command, event and RPC body that crosses RabbitMQ.

Commands are named in the imperative (`IngestDocument`), events in the past tense
(`DocumentIndexed`). Every message carries the envelope of :class:`Message`:
``event_id`` (UUID, the idempotency key), ``occurred_at`` (UTC), ``correlation_id``
(the HTTP request id, carried end to end) and ``schema_version``.

Each event class names its routing key on ``lectern.events`` in ``event_type``; the
session-logger stores that name as the event's type.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION = 1
"""Version of the message schemas in this module; bump on a breaking change."""

DocumentFormat = Literal["markdown", "html", "text"]
SearchMode = Literal["hybrid", "dense", "sparse"]
FusionMethod = Literal["rrf", "weighted_rrf", "dbsf", "convex"]
"""How a hybrid search fuses its dense and sparse candidate lists (see the indexer's
``fusion`` module): reciprocal rank, weighted reciprocal rank, distribution-based score
fusion, or a convex combination of min-max normalised scores."""
MetadataValue = str | int | float | bool | list[str]
DOCUMENT_ID_PATTERN = r"^[A-Za-z0-9._:@+-]+(?:/[A-Za-z0-9._:@+-]+)*$"
"""Document ids: ``/``-separated segments, none empty (no leading, trailing or double ``/``)."""
DocumentId = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=DOCUMENT_ID_PATTERN)
]
COLLECTION_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""Collection names: 1-63 lower-case letters, digits, ``_`` and ``-``, starting with a
letter or digit (safe in URLs, payload values and metric labels)."""
CollectionName = Annotated[str, StringConstraints(pattern=COLLECTION_PATTERN)]
DEFAULT_COLLECTION = "default"
"""The collection that always exists; messages without a ``collection`` belong to it."""


def document_key(collection: str, document_id: str) -> str:
    """Return the key of a document across collections (shard routing, locks).

    ``default``'s documents keep their bare id (what producers that predate collections
    send in the shard header); others are ``<collection>|<document_id>``, unambiguous
    because ``|`` occurs in neither a collection name nor a document id.
    """
    return document_id if collection == DEFAULT_COLLECTION else f"{collection}|{document_id}"


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def normalise_content(content: str) -> str:
    """Normalise document text before hashing, so cosmetic changes keep the version.

    Applies Unicode NFC, turns CRLF and CR into LF, strips trailing white space on
    every line and at both ends of the document.

    Args:
        content: the document as sent by the client.

    Returns:
        The normalised text.
    """
    text = unicodedata.normalize("NFC", content).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def content_version(content: str) -> str:
    """Return a document version: the hex sha256 (64 chars) of the normalised content."""
    return hashlib.sha256(normalise_content(content).encode("utf-8")).hexdigest()


class Message(BaseModel):
    """Envelope shared by every command, event and RPC body.

    Attributes:
        event_id: unique id of this message; consumers are idempotent on it.
        occurred_at: when the fact happened or the command was issued (UTC).
        correlation_id: id of the originating HTTP request, or of the publisher's work.
        schema_version: version of this module's schemas (:data:`SCHEMA_VERSION`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    correlation_id: str | None = Field(default=None, max_length=128)
    schema_version: int = SCHEMA_VERSION


class Event(Message):
    """A fact published on ``lectern.events``; ``event_type`` is its routing key."""

    event_type: str
    session_id: str | None = Field(default=None, max_length=128)


Principal = Annotated[str | None, Field(default=None, max_length=160)]
"""Who caused a search or answer at the gateway (``key:<id>`` or ``addr:<ip>``); the
first principal of a session owns it."""


# --------------------------------------------------------------------------- commands


def order_key(occurred_at: datetime, event_id: UUID) -> str:
    """Return the order key of a command: sorts as ``(occurred_at, event_id)``.

    The text is ``<UTC time, ISO 8601 with microseconds>/<event id, 32 hex digits>``,
    fixed width, so comparing two keys as strings compares the times first and breaks
    ties by the id. The gateway assigns both when it builds the command; the indexer
    applies a command only if its key is not older than the last one it applied to the
    document. Keys from different gateway replicas are only as ordered as their clocks:
    two commands for one document issued closer together than the clock skew between
    replicas may apply in either order.

    Args:
        occurred_at: when the command was issued (timezone-aware).
        event_id: the command's id.

    Returns:
        A 59-character key, e.g. ``2026-12-01T18:44:37.123456Z/<hex>``.
    """
    moment = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{moment}/{event_id.hex}"


class OrderedCommand(Message):
    """A command on one document, applied in the order of :attr:`order_key`."""

    document_id: DocumentId
    collection: CollectionName = DEFAULT_COLLECTION

    @property
    def document_key(self) -> str:
        """:func:`document_key` of this command's collection and document."""
        return document_key(self.collection, self.document_id)

    @property
    def order_key(self) -> str:
        """:func:`order_key` of this command's ``occurred_at`` and ``event_id``."""
        return order_key(self.occurred_at, self.event_id)


class IngestDocument(OrderedCommand):
    """Command: (re)index a document. Routing key ``document.ingest``.

    ``version`` is :func:`content_version` of ``content``; the indexer recomputes it and
    treats a mismatch as an invalid command.
    """

    ROUTING_KEY: ClassVar[str] = "document.ingest"

    document_id: DocumentId
    version: str = Field(min_length=64, max_length=64)
    title: str = Field(min_length=1, max_length=512)
    source: str | None = Field(default=None, max_length=2048)
    format: DocumentFormat
    content: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)


class DeleteDocument(OrderedCommand):
    """Command: remove every chunk of a document. Routing key ``document.delete``."""

    ROUTING_KEY: ClassVar[str] = "document.delete"


# --------------------------------------------------------------------------- events


class DocumentAccepted(Event):
    """The gateway accepted a document for indexing (before any work was done)."""

    event_type: Literal["document.accepted"] = "document.accepted"
    document_id: str
    collection: CollectionName = DEFAULT_COLLECTION
    version: str
    title: str
    source: str | None = None
    format: DocumentFormat
    size_bytes: int = Field(ge=0)


class DocumentIndexed(Event):
    """The indexer stored every chunk of ``version`` durably.

    ``unchanged`` is true when the same version was already indexed (a no-op).
    ``superseded`` is true when the command was older than one already applied to the
    document (by order key): nothing was written and ``version`` is not the current one.
    """

    event_type: Literal["document.indexed"] = "document.indexed"
    document_id: str
    collection: CollectionName = DEFAULT_COLLECTION
    version: str
    chunk_count: int = Field(ge=0)
    unchanged: bool = False
    superseded: bool = False
    duration_ms: float = Field(default=0.0, ge=0)


class DocumentIndexingFailed(Event):
    """The indexer could not index a document; ``reason`` says why, for humans."""

    event_type: Literal["document.failed"] = "document.failed"
    document_id: str
    collection: CollectionName = DEFAULT_COLLECTION
    version: str | None = None
    reason: str
    retryable: bool = False


class DocumentDeleted(Event):
    """Every chunk of a document was removed from the vector store.

    ``superseded`` is true when a newer command was already applied to the document:
    nothing was deleted.
    """

    event_type: Literal["document.deleted"] = "document.deleted"
    document_id: str
    collection: CollectionName = DEFAULT_COLLECTION
    deleted_points: int = Field(ge=0)
    superseded: bool = False


class SearchCompleted(Event):
    """A search was answered; ``latency_ms`` is measured at the gateway."""

    event_type: Literal["search.completed"] = "search.completed"
    query: str
    mode: SearchMode
    top_k: int
    hit_count: int
    latency_ms: float
    chunk_ids: list[str] = Field(default_factory=list)
    document_ids: list[str] = Field(default_factory=list)
    principal: Principal = None
    collections: list[str] = Field(default_factory=list)
    """Collections searched (empty: every collection, or a producer's old event)."""


class AnswerStep(BaseModel):
    """One search an agentic answer made (``AnswerCompleted.steps``).

    Attributes:
        origin: ``question`` (the retrieval of the question itself, always first) or
            ``tool`` (a call of the model's ``search`` tool).
        query: the query searched.
        filter: the metadata filter of the search, if any.
        collections: the collections the model asked for, if any.
        chunk_ids: the chunks it found, best first.
        latency_ms: the search's round trip through the indexer, milliseconds.
        error: why the search gave nothing (``invalid_arguments``,
            ``indexer_unavailable``, ``indexer_timeout``, ``search_failed``), else ``None``.
    """

    origin: Literal["question", "tool"] = "tool"
    query: str = Field(max_length=4096)
    filter: MetadataFilter | None = None
    collections: list[str] | None = None
    chunk_ids: list[str] = Field(default_factory=list)
    latency_ms: float = Field(default=0.0, ge=0)
    error: str | None = None


class AnswerCompleted(Event):
    """An answer was produced for a question, with the chunks it cites.

    ``answer_id`` is the id the client rates with ``FeedbackGiven``; ``generator`` is
    ``extractive`` or ``llm``; ``scorer`` how extractive sentences were ranked
    (``dense+lexical`` or ``lexical``); ``fallback_reason`` why an LLM answer fell back;
    ``steps`` the searches of an agentic answer (empty otherwise); ``search_query`` the
    query retrieval used when it differs from ``question`` (a follow-up made standalone).
    """

    event_type: Literal["answer.completed"] = "answer.completed"
    question: str
    answer: str
    latency_ms: float
    cited_chunk_ids: list[str] = Field(default_factory=list)
    principal: Principal = None
    collections: list[str] = Field(default_factory=list)
    answer_id: str | None = None
    generator: str = "extractive"
    scorer: str | None = None
    fallback_reason: str | None = None
    steps: list[AnswerStep] = Field(default_factory=list)
    search_query: str | None = None


class CollectionCreated(Event):
    """A collection was registered in the indexer's store (``default`` never is)."""

    event_type: Literal["collection.created"] = "collection.created"
    collection: CollectionName


class CollectionDeleted(Event):
    """A collection and every chunk and tombstone in it were removed from the store.

    Its documents' event history stays in the event log until retention drops it.
    """

    event_type: Literal["collection.deleted"] = "collection.deleted"
    collection: CollectionName
    deleted_points: int = Field(ge=0)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["event_type"].default: cls
    for cls in (
        DocumentAccepted,
        DocumentIndexed,
        DocumentIndexingFailed,
        DocumentDeleted,
        SearchCompleted,
        AnswerCompleted,
        CollectionCreated,
        CollectionDeleted,
    )
}
"""Known event classes by ``event_type`` (also their routing keys)."""


class EventEnvelope(BaseModel):
    """Any event on ``lectern.events``, read generically (for the session-logger).

    Keeps the envelope fields typed and every other field as-is, so events published
    by other services are stored too.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    event_id: UUID
    occurred_at: AwareDatetime
    event_type: str = Field(min_length=1, max_length=128)
    correlation_id: str | None = Field(default=None, max_length=128)
    session_id: str | None = Field(default=None, max_length=128)
    schema_version: int = 1


# --------------------------------------------------------------------------- RPC


class MetadataFilter(BaseModel):
    """Search filter: all given conditions must hold (AND); each list is an OR."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_ids: list[str] | None = Field(default=None, max_length=1000)
    sources: list[str] | None = Field(default=None, max_length=1000)
    metadata: dict[str, str | int | bool] | None = Field(default=None, max_length=32)


class SearchRequest(Message):
    """RPC body on ``indexer.rpc``: find the ``top_k`` chunks closest to ``query``.

    ``collections`` names the collections searched (at most 100); ``None`` searches every
    collection (keys with ``*``, and callers that predate collections).
    """

    kind: Literal["search"] = "search"
    query: str = Field(min_length=1, max_length=4096)
    collections: list[CollectionName] | None = Field(default=None, min_length=1, max_length=100)
    top_k: int = Field(default=5, ge=1, le=50)
    mode: SearchMode = "hybrid"
    filter: MetadataFilter | None = None
    fusion: FusionMethod | None = None
    """Hybrid fusion for this request; ``None``: the indexer's configured default."""
    explain: bool = False
    """Attach a :class:`HitExplanation` to every hit."""


class HitExplanation(BaseModel):
    """Why a hit ranked where it did: its place in each candidate list and the fusion.

    Ranks are 1-based positions in the dense / sparse candidate lists, ``None`` when the
    chunk was not among that list's candidates (or the mode did not run that list).
    """

    model_config = ConfigDict(frozen=True)

    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_score: float | None = None
    sparse_rank: int | None = None
    fused_score: float
    fusion: str


class SearchHit(BaseModel):
    """One retrieved chunk. ``score`` is the store's score (cosine, BM25 or fused)."""

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    document_id: str
    title: str
    source: str | None
    heading_path: list[str]
    text: str
    score: float
    chunk_index: int = 0
    version: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    explain: HitExplanation | None = None
    collection: str = DEFAULT_COLLECTION


class SearchResponse(BaseModel):
    """RPC reply to :class:`SearchRequest`; ``latency_ms`` is measured in the indexer."""

    kind: Literal["search"] = "search"
    hits: list[SearchHit]
    latency_ms: float


class SentenceScoreRequest(Message):
    """RPC body on ``indexer.rpc``: how close in meaning is each sentence to ``question``.

    The indexer owns the embedding model, so the gateway asks it to score the candidate
    sentences of an extractive answer (at most 256, each at most 2,000 characters).
    """

    kind: Literal["score_sentences"] = "score_sentences"
    question: str = Field(min_length=1, max_length=4096)
    sentences: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        min_length=1, max_length=256
    )


class SentenceScoreResponse(BaseModel):
    """RPC reply to :class:`SentenceScoreRequest`.

    Attributes:
        scores: cosine similarity in ``[-1, 1]`` of each sentence's dense embedding with
            the question's (all-MiniLM-L6-v2), in the order of the request.
        latency_ms: time spent in the indexer, in milliseconds.
    """

    kind: Literal["score_sentences"] = "score_sentences"
    scores: list[float]
    latency_ms: float


CollectionAction = Literal["create", "get", "list", "delete"]


class CollectionRequest(Message):
    """RPC body on ``indexer.rpc``: manage the collection registry (the indexer owns it).

    ``name`` is required for every action but ``list``. ``create`` of an existing
    collection and ``delete`` of ``default`` answer 409; ``get``/``delete`` of an unknown
    one 404 (as :class:`RpcError`).
    """

    kind: Literal["collection"] = "collection"
    action: CollectionAction
    name: CollectionName | None = None


class CollectionInfo(BaseModel):
    """One collection: its name, when it was created, and what it holds now.

    Attributes:
        name: the collection's name.
        created_at: when it was registered; ``None`` for ``default``.
        document_count: documents with indexed chunks (counted by their chunk 0).
        chunk_count: chunks stored.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    created_at: AwareDatetime | None = None
    document_count: int = Field(ge=0)
    chunk_count: int = Field(ge=0)


class CollectionsResponse(BaseModel):
    """RPC reply to :class:`CollectionRequest`: the collections concerned, by name.

    ``deleted_points`` counts the chunks and tombstones a ``delete`` removed.
    """

    kind: Literal["collections"] = "collections"
    collections: list[CollectionInfo]
    deleted_points: int = 0


class PingRequest(Message):
    """RPC body: health probe for a service and its store."""

    kind: Literal["ping"] = "ping"


class PingResponse(BaseModel):
    """RPC reply to :class:`PingRequest`: the service's name and its store's state."""

    kind: Literal["ping"] = "ping"
    service: str
    store: str
    store_ok: bool
    detail: str | None = None


class RpcError(BaseModel):
    """RPC reply when the request could not be served.

    ``status`` follows HTTP semantics so the gateway can map it directly (400 for an
    invalid request, 404 for an unknown id, 503 when the store is unavailable).
    """

    kind: Literal["error"] = "error"
    status: int = Field(ge=400, le=599)
    title: str
    detail: str


# --------------------------------------------------------------------------- feedback

FEEDBACK_COMMENT_MAX_CHARS = 2000
"""Longest feedback comment (characters): a few paragraphs, far under the event log's
bound (:data:`lectern.event_bounds.MAX_EVENT_BYTES`)."""


class FeedbackGiven(Event):
    """A user rated an answer (``up`` or ``down``), optionally with a comment.

    ``answer_id`` names the :class:`AnswerCompleted` it rates; the gateway does not check
    that the answer exists (its event may still wait in RabbitMQ), so the session-logger
    joins the two by ``answer_id`` and counts feedback that matches no answer as
    orphaned. The latest rating of an answer is the one that counts.
    """

    event_type: Literal["feedback.given"] = "feedback.given"
    answer_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=FEEDBACK_COMMENT_MAX_CHARS)
    principal: Principal = None


EVENT_TYPES[FeedbackGiven.model_fields["event_type"].default] = FeedbackGiven
