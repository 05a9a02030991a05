"""Chunk payloads: what is stored per point, and how it is read back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lectern.contracts import DEFAULT_COLLECTION, IngestDocument, SearchHit
from lectern_indexer.chunking import Chunk
from lectern_indexer.stores.base import StoredPoint


def is_complete_version(points: Sequence[StoredPoint]) -> bool:
    """Whether ``points`` (one version's) hold every chunk index ``0..chunk_count-1``."""
    if not points:
        return False
    expected = points[0].payload.get("chunk_count")
    indices = {p.payload.get("chunk_index") for p in points}
    return expected == len(points) and indices == set(range(len(points)))


def last_applied_key(points: Sequence[StoredPoint], tombstone: str | None) -> str | None:
    """Return the newest order key applied to a document, or ``None`` if none is known.

    Args:
        points: the document's points (their ``order_key`` payload; points written
            before order keys existed have none and count as older than any key).
        tombstone: the order key of the document's tombstone, if it has one.
    """
    keys = [p.payload.get("order_key") for p in points]
    known = [k for k in (*keys, tombstone) if isinstance(k, str)]
    return max(known, default=None)


def is_superseded(order_key: str, applied: str | None) -> bool:
    """Whether a command with ``order_key`` is older than what was already ``applied``.

    An equal key is the same command delivered again: it is not superseded, so a
    redelivery still completes a write that a crash interrupted.
    """
    return applied is not None and order_key < applied


def same_embedded_fields(point: StoredPoint, command: IngestDocument) -> bool:
    """Title and format shape the embedded text: a change to either re-embeds."""
    return (
        point.payload.get("title") == command.title
        and point.payload.get("format") == command.format
    )


def chunk_payload(
    command: IngestDocument, chunk: Chunk, chunk_count: int, indexed_at: str
) -> dict[str, Any]:
    """Build the stored payload of one chunk (fields listed on ``ChunkPoint``)."""
    return {
        "collection": command.collection,
        "document_id": command.document_id,
        "version": command.version,
        "chunk_index": chunk.index,
        "chunk_count": chunk_count,
        "title": command.title,
        "source": command.source,
        "heading_path": list(chunk.heading_path),
        "text": chunk.text,
        "format": command.format,
        "metadata": dict(command.metadata),
        "indexed_at": indexed_at,
        "order_key": command.order_key,
    }


def search_hit(point_id: str, score: float, payload: dict[str, Any]) -> SearchHit:
    """Turn a stored point into a :class:`SearchHit` of the RPC contract."""
    return SearchHit(
        chunk_id=point_id,
        document_id=str(payload.get("document_id", "")),
        title=str(payload.get("title", "")),
        source=payload.get("source"),
        heading_path=list(payload.get("heading_path") or []),
        text=str(payload.get("text", "")),
        score=score,
        chunk_index=int(payload.get("chunk_index", 0)),
        version=str(payload.get("version", "")),
        metadata=dict(payload.get("metadata") or {}),
        collection=str(payload.get("collection") or DEFAULT_COLLECTION),
    )
