"""Fakes for the indexer's ports: a bag-of-words embedder that counts its calls."""

from __future__ import annotations

import asyncio
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence

from lectern_indexer.embedding import DENSE_DIMENSIONS, Embedding, SparseVector

WORD = re.compile(r"[a-z0-9]+")
STOP = frozenset({"the", "a", "an", "of", "to", "and", "is", "on", "in", "how", "do", "i"})


def _terms(text: str) -> Counter[int]:
    words = [w for w in WORD.findall(text.lower()) if w not in STOP]
    return Counter(zlib.crc32(w.encode()) % 100_000 for w in words)


def embed(text: str) -> Embedding:
    """Hash each word to a dimension: texts sharing words are close (cosine)."""
    terms = _terms(text)
    dense = [0.0] * DENSE_DIMENSIONS
    for term, count in terms.items():
        dense[term % DENSE_DIMENSIONS] += count
    norm = math.sqrt(sum(x * x for x in dense)) or 1.0
    return Embedding(
        dense=[x / norm for x in dense],
        sparse=SparseVector(list(terms), [float(c) for c in terms.values()]),
    )


class FakeEmbedder:
    """Deterministic embedder; ``embedded`` counts document texts embedded so far."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.embedded = 0
        self.delay_s = delay_s

    async def embed_documents(self, texts: Sequence[str]) -> list[Embedding]:
        self.embedded += len(texts)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return [embed(t) for t in texts]

    async def embed_query(self, text: str) -> Embedding:
        return embed(text)

    async def embed_dense(self, texts: Sequence[str]) -> list[list[float]]:
        return [embed(t).dense for t in texts]

    async def close(self) -> None:
        return None
