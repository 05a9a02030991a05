"""HTTP request and response bodies of the gateway (they shape the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from litestar.datastructures import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from lectern.contracts import (
    DocumentFormat,
    DocumentId,
    MetadataFilter,
    MetadataValue,
    SearchHit,
    SearchMode,
)


class IngestDocumentBody(BaseModel):
    """``POST /v1/documents``: a document to (re)index.

    ``document_id`` defaults to a new UUID; re-sending the same id with new content
    replaces the old version, with unchanged content is a no-op.
    """

    model_config = ConfigDict(extra="forbid")

    document_id: DocumentId | None = None
    title: str = Field(min_length=1, max_length=512)
    source: str | None = Field(default=None, max_length=2048)
    format: DocumentFormat
    content: str = Field(min_length=1)
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, max_length=64)


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


class DocumentAcceptedBody(BaseModel):
    """``202`` answer to an ingest: the command is durably queued for the indexer."""

    document_id: str
    version: str = Field(description="sha256 (hex) of the normalised content")
    status: str = "accepted"
    request_id: str


class SearchBody(BaseModel):
    """``POST /v1/search``: find the chunks that best answer ``query``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4096)
    top_k: int = Field(default=5, ge=1, le=50)
    mode: SearchMode = "hybrid"
    filter: MetadataFilter | None = None
    session_id: str | None = Field(default=None, max_length=128)


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


class AnswerBody(BaseModel):
    """``POST /v1/answers``: answer ``question`` from retrieved chunks or from ``context``."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4096)
    top_k: int = Field(default=5, ge=1, le=20)
    filter: MetadataFilter | None = None
    context: list[str] | None = Field(
        default=None,
        max_length=20,
        description="Passages to answer from instead of searching (works without the indexer).",
    )
    session_id: str | None = Field(default=None, max_length=128)


class Citation(BaseModel):
    """A numbered source of an answer: ``[number]`` in the answer text refers to ``hit``."""

    number: int
    hit: SearchHit


class AnswerResultBody(BaseModel):
    """An extractive answer with numbered citations; empty when nothing matched."""

    question: str
    answer: str
    citations: list[Citation]
    latency_ms: float
    request_id: str
