"""HTTP request and response bodies of the gateway (they shape the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from lectern.contracts import (
    DocumentFormat,
    DocumentId,
    FusionMethod,
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
    fusion: FusionMethod | None = None
    """Hybrid fusion for this search; ``None``: the indexer's default."""
    explain: bool = False
    """Report each hit's dense and sparse score and rank and its fused score."""


class SearchResultBody(BaseModel):
    """Search answer: hits best first; ``latency_ms`` is the gateway's server-side time."""

    query: str
    mode: SearchMode
    hits: list[SearchHit]
    latency_ms: float
    request_id: str


class ReadinessBody(BaseModel):
    """``/health/ready``: overall verdict and each dependency's state."""

    ready: bool
    checks: dict[str, dict[str, object]]


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
