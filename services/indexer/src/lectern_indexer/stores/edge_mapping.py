"""Translations from the ``VectorStore`` port's types to Qdrant Edge's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import qdrant_edge as qe

from lectern.contracts import MetadataFilter, SearchMode
from lectern_indexer.embedding import DENSE_DIMENSIONS
from lectern_indexer.stores.base import COLLECTION_FIELD, DENSE_VECTOR, SPARSE_VECTOR, VectorQuery
from lectern_indexer.stores.index_settings import (
    DENSE_VECTOR_BYTES,
    FULL_SCAN_THRESHOLD_KB,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    HNSW_PAYLOAD_M,
    INDEXING_THRESHOLD_KB,
    MAX_SEGMENT_SIZE_KB,
)

BOOL_SHADOW = "metadata_bool"
"""Payload object mirroring boolean metadata as ``"true"``/``"false"`` keywords.

qdrant-edge-py 0.9 converts ``MatchValue(True)`` to the integer 1, which never matches
a stored boolean; boolean filters therefore match this keyword mirror instead."""


def with_bool_shadow(payload: dict[str, Any]) -> dict[str, Any]:
    """Add :data:`BOOL_SHADOW` to a payload that carries ``metadata``."""
    metadata = payload.get("metadata")
    if not isinstance(metadata, dict):
        return payload
    shadow = {k: "true" if v else "false" for k, v in metadata.items() if isinstance(v, bool)}
    return {**payload, BOOL_SHADOW: shadow}


def indexing_threshold_points() -> int:
    """Dense vectors in one segment at which it gets an HNSW graph (about 6,666)."""
    return INDEXING_THRESHOLD_KB * 1024 // DENSE_VECTOR_BYTES


def hnsw_config() -> qe.HnswIndexConfig:
    """Lectern's HNSW settings (see the constants above); the graph lives in RAM (cached)."""
    return qe.HnswIndexConfig(
        m=HNSW_M,
        ef_construct=HNSW_EF_CONSTRUCT,
        full_scan_threshold=FULL_SCAN_THRESHOLD_KB,
        payload_m=HNSW_PAYLOAD_M,
        memory=qe.Memory.Cached,
    )


def edge_config(indexing_threshold_kb: int = INDEXING_THRESHOLD_KB) -> qe.EdgeConfig:
    """The shard layout and index settings (``indexing_threshold_kb``: tests lower it).

    Dense 384-d cosine vector and a BM25 sparse vector with IDF; HNSW per
    :func:`hnsw_config`; optimisers per :data:`INDEXING_THRESHOLD_KB` and
    :data:`MAX_SEGMENT_SIZE_KB` (the graph is built only when
    :class:`~lectern_indexer.stores.edge_optimizer.EdgeOptimizer` calls ``optimize()``).
    Memory: dense vectors and graphs cached in RAM (memory-mapped files kept resident,
    ~1.5 KiB per point plus ~130 B of graph links), the sparse index pinned in RAM (the
    engine's default), payload cold on disk (memory-mapped: searches read the payload of
    the top hits only, so 1M chunks' texts need not sit in RAM).
    """
    return qe.EdgeConfig(
        vectors={
            DENSE_VECTOR: qe.EdgeVectorParams(
                size=DENSE_DIMENSIONS, distance=qe.Distance.Cosine, memory=qe.Memory.Cached
            )
        },
        sparse_vectors={SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        hnsw_config=hnsw_config(),
        optimizers=qe.EdgeOptimizersConfig(
            indexing_threshold=indexing_threshold_kb, max_segment_size=MAX_SEGMENT_SIZE_KB
        ),
        payload_memory=qe.Memory.Cold,
    )


def in_collections(collections: Sequence[str]) -> qe.FieldCondition:
    """The condition "the point's collection is one of ``collections``"."""
    return qe.FieldCondition(COLLECTION_FIELD, match=qe.MatchAny(list(collections)))


def edge_filter(
    conditions: MetadataFilter | None, collections: Sequence[str] | None = None
) -> qe.Filter | None:
    """Translate a :class:`MetadataFilter` and the searched collections to an Edge filter.

    ``None`` when both are empty; ``collections=None`` means every collection.
    """
    must: list[Any] = [] if collections is None else [in_collections(collections)]
    if conditions is None:
        return qe.Filter(must=must) if must else None
    if conditions.document_ids is not None:
        must.append(
            qe.FieldCondition("document_id", match=qe.MatchAny(list(conditions.document_ids)))
        )
    if conditions.sources is not None:
        must.append(qe.FieldCondition("source", match=qe.MatchAny(list(conditions.sources))))
    for key, value in (conditions.metadata or {}).items():
        if isinstance(value, bool):
            match = qe.MatchValue("true" if value else "false")
            must.append(qe.FieldCondition(f"{BOOL_SHADOW}.{key}", match=match))
        else:
            must.append(qe.FieldCondition(f"metadata.{key}", match=qe.MatchValue(value)))
    return qe.Filter(must=must) if must else None


def nearest_request(
    query: VectorQuery, mode: SearchMode, limit: int, *, with_payload: bool = True
) -> qe.QueryRequest:
    """Build the Edge query for one candidate list: nearest by ``mode``'s vector.

    Raises:
        ValueError: ``query`` lacks that vector.
    """
    condition = edge_filter(query.filter, query.collections)
    if mode == "dense" and query.dense is not None:
        nearest = qe.Query.Nearest(query.dense, using=DENSE_VECTOR)
    elif mode == "sparse" and query.sparse is not None:
        vector = qe.SparseVector(query.sparse.indices, query.sparse.values)
        nearest = qe.Query.Nearest(vector, using=SPARSE_VECTOR)
    else:
        raise ValueError(f"a {mode} search needs its query vector")
    return qe.QueryRequest(limit=limit, query=nearest, filter=condition, with_payload=with_payload)
