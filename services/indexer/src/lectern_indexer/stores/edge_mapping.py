"""Translations from the ``VectorStore`` port's types to Qdrant Edge's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import qdrant_edge as qe

from lectern.contracts import MetadataFilter, SearchMode
from lectern_indexer.embedding import DENSE_DIMENSIONS
from lectern_indexer.stores.base import COLLECTION_FIELD, DENSE_VECTOR, SPARSE_VECTOR, VectorQuery

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


def edge_config() -> qe.EdgeConfig:
    """The shard layout: dense 384-d cosine vector and a BM25 sparse vector with IDF."""
    return qe.EdgeConfig(
        vectors={
            DENSE_VECTOR: qe.EdgeVectorParams(size=DENSE_DIMENSIONS, distance=qe.Distance.Cosine)
        },
        sparse_vectors={SPARSE_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
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
