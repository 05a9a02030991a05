"""Lectern's vector-index settings, shared by the Edge and the server store.

Sizes are in KB of vector storage, as Qdrant takes them: one dense vector is 384 float32
= 1.5 KiB, so 10,000 KB is about 6,666 vectors. Sources: Qdrant's configuration docs
(``hnsw_config``, ``optimizers_config``) and its defaults (``lib/segment/src/types.rs``,
``lib/shard/src/optimizers/config.rs``): the values below are those defaults, stated so
that a Qdrant release changing them does not change Lectern, except ``payload_m`` and
the Edge segment cap.
"""

from __future__ import annotations

from lectern_indexer.embedding import DENSE_DIMENSIONS

HNSW_M = 16
"""Edges per node of the dense HNSW graph (Qdrant's default; recall@10 about 0.99 on
384-d sentence embeddings at ``ef = ef_construct``, Qdrant's benchmarks)."""

HNSW_EF_CONSTRUCT = 100
"""Candidates kept while building the graph (Qdrant's default)."""

HNSW_PAYLOAD_M = 16
"""Edges per node of the extra, per-value graphs Qdrant builds for indexed payload values
(payload-aware HNSW): for every value of an indexed field (the tenant key ``collection``,
``source``, ``format``, metadata) that more points hold than the full-scan threshold, the
points with that value get their own links, so a filtered HNSW search stays connected
inside one collection instead of falling apart into the unfiltered graph's islands."""

FULL_SCAN_THRESHOLD_KB = 10_000
"""Per segment and query: when the filter's estimated matches hold fewer vector bytes
than this (10,000 KB = about 6,600 dense 384-d vectors of 1.5 KiB), the planner scores
those points exactly through the payload index instead of walking the graph. Same as
:data:`INDEXING_THRESHOLD_KB`, so a segment small enough to stay plain is one a full scan
serves anyway."""

INDEXING_THRESHOLD_KB = 10_000
"""A segment whose largest vector storage passes 10,000 KB (about 6,600 dense vectors)
gets an HNSW graph when optimised (Qdrant's default, stated here). Below it the appendable
segment is scanned exactly: 6,600 cosine products take well under a millisecond, and each
optimisation builds a graph of about this many points (a few seconds)."""

MAX_SEGMENT_SIZE_KB = 100_000
"""Edge only: largest segment the merge optimiser builds (about 65,000 dense vectors). The
Qdrant server optimises in the background and keeps its own default. Qdrant Edge's
``optimize()`` holds the GIL while it runs, so this bounds the longest pause one merge can
cause (rebuilding that many points); the price is more segments to search past ~100k."""

DENSE_VECTOR_BYTES = DENSE_DIMENSIONS * 4
"""Bytes of one stored dense vector (float32)."""
