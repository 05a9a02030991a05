"""HTTP request and response bodies of the gateway (they shape the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar.datastructures import UploadFile
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from lectern.contracts import (
    DEFAULT_COLLECTION,
    AnswerStep,
    CollectionName,
    DocumentFormat,
    DocumentId,
    FusionMethod,
    MetadataFilter,
    MetadataValue,
    SearchHit,
    SearchMode,
)

NOT_BLANK = r"[^\s\x1c-\x1f]"
"""Pattern (unanchored search) of a text that is not only white space (Python's
``str.isspace``, which also counts U+001C..U+001F, as ``normalise_content`` strips them)."""


def _integral_float(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_integral_float)]
"""A JSON integer, strictly: ``5`` or ``5.0`` (JSON Schema integers), never ``"5"`` or ``true``."""

MetadataKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

SessionId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._~:@+-]+$")
]
"""A session id a client names: URL- and header-safe (it comes back in ``X-Session-ID``),
like the ones the gateway makes (``secrets.token_urlsafe``)."""


SearchCollections = Annotated[
    list[Annotated[str, StringConstraints(pattern=r"^(\*|[a-z0-9][a-z0-9_-]{0,62})$")]] | None,
    Field(
        default=None,
        min_length=1,
        max_length=100,
        description="collections to search; absent or `*`: every collection the key may "
        "read (403 when it names one the key may not use)",
    ),
]


class SearchFilter(MetadataFilter):
    """:class:`~lectern.contracts.MetadataFilter` with the keys the indexer can filter on."""

    metadata: (
        Annotated[
            dict[MetadataKey, str | int | bool],
            Field(max_length=32, json_schema_extra={"additionalProperties": False}),
        ]
        | None
    ) = None


class IngestDocumentBody(BaseModel):
    """``POST /v1/documents``: a document to (re)index.

    ``document_id`` defaults to a new UUID; re-sending the same id with new content
    replaces the old version, with unchanged content is a no-op.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    document_id: DocumentId | None = None
    title: str = Field(min_length=1, max_length=512)
    source: str | None = Field(default=None, max_length=2048)
    format: DocumentFormat
    content: str = Field(min_length=1, pattern=NOT_BLANK)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=64)
    collection: CollectionName = Field(
        default=DEFAULT_COLLECTION,
        description="the collection the document belongs to (it must exist; 404 if not)",
    )


@dataclass
class UploadForm:
    """``POST /v1/documents/upload`` (multipart): a file, with optional fields.

    The format follows the file name's extension (``.md``, ``.markdown``, ``.html``,
    ``.htm``, ``.txt``) or, failing that, its content type; ``metadata`` is a JSON object.
    """

    file: UploadFile
    document_id: str | None = None
    title: str | None = None
    source: str | None = None
    metadata: str | None = None
    collection: str | None = None


class DocumentAcceptedBody(BaseModel):
    """``202`` answer to an ingest: the command is durably queued for the indexer."""

    document_id: str
    collection: str = DEFAULT_COLLECTION
    version: str = Field(description="sha256 (hex) of the normalised content")
    status: str = "accepted"
    request_id: str


MAX_BATCH_DOCUMENTS = 500
"""Documents one ``POST /v1/documents:batch`` may carry (the body limit applies too)."""


class BatchIngestBody(BaseModel):
    """``POST /v1/documents:batch``: up to :data:`MAX_BATCH_DOCUMENTS` documents.

    Each item has the shape of :class:`IngestDocumentBody` and is validated on its own,
    so one bad item is reported in its result instead of refusing the whole batch.
    """

    model_config = ConfigDict(extra="forbid")

    documents: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH_DOCUMENTS)
    collection: CollectionName | None = Field(
        default=None, description="the collection of every item that names none"
    )


class BatchItemResult(BaseModel):
    """One item's outcome: ``status`` 202 with its ``version``, or an error ``detail``."""

    index: int = Field(description="position of the item in the request")
    document_id: str | None
    status: int = Field(
        description="202 accepted, 400/413 invalid, 403/404 collection not usable or "
        "unknown, 503 not confirmed"
    )
    version: str | None = None
    detail: str | None = None


class BatchResultBody(BaseModel):
    """Answer to a batch: counts and one result per item, in request order."""

    accepted: int
    failed: int
    results: list[BatchItemResult]
    request_id: str


class SearchBody(BaseModel):
    """``POST /v1/search``: find the chunks that best answer ``query``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=NOT_BLANK)]
    top_k: JsonInt = Field(default=5, ge=1, le=50)
    mode: SearchMode = "hybrid"
    filter: SearchFilter | None = None
    session_id: SessionId | None = None
    fusion: FusionMethod | None = None
    """Hybrid fusion for this search; ``None``: the indexer's default."""
    explain: bool = False
    """Report each hit's dense and sparse score and rank and its fused score."""
    collections: SearchCollections = None


class SearchResultBody(BaseModel):
    """Search answer: hits best first; ``latency_ms`` is the gateway's server-side time."""

    query: str
    mode: SearchMode
    hits: list[SearchHit]
    latency_ms: float
    request_id: str


class ReadinessBody(BaseModel):
    """``/health/ready``: whether this gateway can do its own job (the broker is connected).

    ``checks`` holds only the gateway's own needs; the other services and stores are
    reported by ``/health/dependencies`` and never make the gateway unready.
    """

    ready: bool
    checks: dict[str, dict[str, object]]


class DependencyState(BaseModel):
    """One dependency's state at its last probe.

    Attributes:
        name: ``broker``, ``indexer``, ``session-logger``, ``vector-store`` (the
            indexer's) or ``event-store`` (the session-logger's Postgres).
        kind: ``broker``, ``service`` or ``store``.
        state: ``up``, ``down``, or ``unknown`` (a store whose service did not answer).
        latency_ms: duration of the probe in milliseconds; for a store, the round trip
            of the ping of the service that checked it.
        detail: why it is not up, when it is not.
        store: the store's engine (``qdrant-edge``, ``qdrant``, ``postgres``).
        reported_by: the service that checked the store.
    """

    name: str
    kind: Literal["broker", "service", "store"]
    state: Literal["up", "down", "unknown"]
    latency_ms: float
    detail: str | None = None
    store: str | None = None
    reported_by: str | None = None


class DependenciesBody(BaseModel):
    """``/health/dependencies``: every dependency's state, by name."""

    all_up: bool
    dependencies: dict[str, DependencyState]


CONTEXT_MAX_PASSAGES = 20
CONTEXT_MAX_CHARS = 20_000
CONTEXT_MAX_TOTAL_CHARS = 100_000
ContextPassage = Annotated[str, StringConstraints(min_length=1, max_length=CONTEXT_MAX_CHARS)]


class AnswerBody(BaseModel):
    """``POST /v1/answers``: answer ``question`` from retrieved chunks or from ``context``.

    ``context`` holds at most 20 passages of at most 20,000 characters each and
    100,000 characters in all; more is ``400``.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(min_length=1, max_length=4096)
    top_k: JsonInt = Field(default=5, ge=1, le=20)
    filter: SearchFilter | None = None
    context: list[ContextPassage] | None = Field(
        default=None,
        max_length=CONTEXT_MAX_PASSAGES,
        description="Passages to answer from instead of searching (works without the "
        "indexer): at most 20, each at most 20,000 characters, 100,000 in all.",
    )
    context_mode: Literal["replace", "augment"] = Field(
        default="replace",
        description="replace: answer from context only (no search); augment: context "
        "first, then the retrieved chunks",
    )
    mode: Literal["answer", "agent"] = Field(
        default="answer",
        description="agent: the LLM may call a search tool (AGENT_MAX_STEPS rounds) first",
    )
    collections: SearchCollections = None
    session_id: SessionId | None = Field(
        default=None, description="follow-ups use the session's earlier answers"
    )
    stream: bool = Field(
        default=False,
        description="answer with server-sent events (also with Accept: text/event-stream)",
    )

    @field_validator("context")
    @classmethod
    def _bound_context(cls, value: list[str] | None) -> list[str] | None:
        if value and sum(len(p) for p in value) > CONTEXT_MAX_TOTAL_CHARS:
            raise ValueError(f"context holds over {CONTEXT_MAX_TOTAL_CHARS} characters in all")
        return value


class Citation(BaseModel):
    """A numbered source of an answer: ``[number]`` in the answer text refers to ``hit``."""

    number: int
    hit: SearchHit


class TokenUsage(BaseModel):
    """Tokens the LLM reported for one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


class ConversationBody(BaseModel):
    """How a follow-up used its conversation's earlier turns.

    ``method``: ``llm_rewrite`` (the LLM made the question standalone), ``carried_terms``
    (the previous question's content terms were appended) or ``None`` (nothing done,
    ``reason`` says why: ``session_history_unavailable``, ``rewrite_<llm reason>``).
    """

    turns: int = Field(description="earlier turns read")
    method: Literal["llm_rewrite", "carried_terms"] | None = None
    reason: str | None = None


class AnswerResultBody(BaseModel):
    """An answer with numbered citations (``Not in the documents.`` when nothing matched).

    ``generator`` is ``extractive`` or ``llm``; ``scorer`` says how extractive sentences
    were ranked: ``dense+lexical`` (meaning and shared words, scored by the indexer) or
    ``lexical`` (shared words only, while the indexer cannot score).
    """

    answer_id: str
    question: str
    answer: str
    citations: list[Citation]
    generator: str = "extractive"
    scorer: str | None = None
    fallback_reason: str | None = Field(
        default=None, description="why an LLM answer fell back to the extractive one"
    )
    dropped_citations: int = Field(
        default=0, description="[n] markers of the LLM that named no chunk (removed)"
    )
    usage: TokenUsage | None = None
    query: str | None = Field(
        default=None, description="what was searched (None when context replaced retrieval)"
    )
    conversation: ConversationBody | None = None
    steps: list[AnswerStep] = Field(
        default_factory=list, description="the searches of an agentic answer, in order"
    )
    agent_fallback_reason: str | None = Field(
        default=None, description="why mode agent answered from one retrieval"
    )
    retrieval_fallback_reason: str | None = Field(
        default=None, description="why context_mode augment answered from context only"
    )
    latency_ms: float
    request_id: str


class Problem(BaseModel):
    """An RFC 9457 problem: the body of every ``4xx``/``5xx`` (``application/problem+json``)."""

    type: str = Field(description="URI of the problem type")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str = Field(description="the request path")
    request_id: str = Field(description="also in the X-Request-ID header and the logs")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="validation errors, one per offending field"
    )
