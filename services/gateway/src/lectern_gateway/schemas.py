"""HTTP request and response bodies of the gateway (they shape the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar.datastructures import UploadFile
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

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
    """``/health/ready``: overall verdict and each dependency's state."""

    ready: bool
    checks: dict[str, dict[str, object]]


CONTEXT_MAX_PASSAGES = 20
CONTEXT_MAX_CHARS = 20_000
CONTEXT_MAX_TOTAL_CHARS = 100_000
ContextPassage = Annotated[str, StringConstraints(min_length=1, max_length=CONTEXT_MAX_CHARS)]


class AnswerBody(BaseModel):
    """``POST /v1/answers``: answer ``question`` from retrieved chunks or from ``context``.

    ``context`` holds at most 20 passages of at most 20,000 characters each and
    100,000 characters in all; more is ``400``.
    """

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4096)
    top_k: int = Field(default=5, ge=1, le=20)
    filter: MetadataFilter | None = None
    context: list[ContextPassage] | None = Field(
        default=None,
        max_length=CONTEXT_MAX_PASSAGES,
        description="Passages to answer from instead of searching (works without the "
        "indexer): at most 20, each at most 20,000 characters, 100,000 in all.",
    )
    session_id: str | None = Field(default=None, max_length=128)
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
    latency_ms: float
    request_id: str
