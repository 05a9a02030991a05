"""A disk cache in front of the indexer's embedder, so evaluation runs can be repeated.

Dense vectors (``embed_dense``) and query embeddings (``embed_query``) are stored in a
SQLite file keyed by the exact text; document embeddings pass through (the vector store
keeps those). The model's output for a text never changes, so a cached vector is the
vector the model would compute again. :meth:`CachedEmbedder.warm` embeds many texts
sorted by length, which pads less than the request order and is much faster on CPU.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lectern_indexer.embedding import Embedding, FastembedEmbedder, SparseVector

WARM_BATCH = 32


class CachedEmbedder:
    """Wraps a loaded :class:`FastembedEmbedder` with a SQLite cache at ``path``."""

    def __init__(self, inner: FastembedEmbedder, path: Path) -> None:
        self.inner = inner
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=120)
        self._db.execute("CREATE TABLE IF NOT EXISTS dense (text TEXT PRIMARY KEY, v TEXT)")
        self._db.execute("CREATE TABLE IF NOT EXISTS query (text TEXT PRIMARY KEY, v TEXT)")

    def _cached(self, table: str, texts: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(texts))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT text, v FROM {table} WHERE text IN ({marks})", part)
            found.update(dict(rows.fetchall()))
        return found

    async def warm(self, texts: Sequence[str], label: str) -> None:
        """Embed every text not cached yet, shortest first, reporting progress."""
        missing = sorted(set(texts) - set(self._cached("dense", texts)), key=len)
        started = time.perf_counter()
        for start in range(0, len(missing), WARM_BATCH):
            batch = missing[start : start + WARM_BATCH]
            vectors = await self.inner.embed_dense(batch)
            rows = [(t, json.dumps(v)) for t, v in zip(batch, vectors, strict=True)]
            self._db.executemany("INSERT OR REPLACE INTO dense VALUES (?, ?)", rows)
            self._db.commit()
            done = start + len(batch)
            if done % (WARM_BATCH * 20) == 0 or done == len(missing):
                rate = done / (time.perf_counter() - started)
                print(f"  {label}: {done}/{len(missing)} ({rate:.1f}/s)", file=sys.stderr)

    async def embed_dense(self, texts: Sequence[str]) -> list[list[float]]:
        """Dense vectors from the cache, computing (and storing) the missing ones."""
        await self.warm(texts, "dense")
        found = self._cached("dense", texts)
        return [json.loads(found[t]) for t in texts]

    async def embed_query(self, text: str) -> Embedding:
        """Query embedding (dense and BM25 terms) from the cache, else from the model."""
        row = self._cached("query", [text]).get(text)
        if row is None:
            embedding = await self.inner.embed_query(text)
            payload = [embedding.dense, embedding.sparse.indices, embedding.sparse.values]
            self._db.execute(
                "INSERT OR REPLACE INTO query VALUES (?, ?)", (text, json.dumps(payload))
            )
            self._db.commit()
            return embedding
        dense, indices, values = json.loads(row)
        return Embedding(dense=dense, sparse=SparseVector(indices=indices, values=values))

    async def embed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        """Pass through: chunk embeddings are kept by the vector store."""
        return await self.inner.embed_documents(texts)

    async def close(self) -> None:
        """Close the cache and the model's worker threads."""
        self._db.close()
        await self.inner.close()
