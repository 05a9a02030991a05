"""Sentence scoring for extractive answers: cosine of each sentence with the question.

The gateway picks answer sentences by meaning as well as by shared words; the meaning
part needs the embedding model, which lives here. Sentences are embedded with the same
dense model as chunks (all-MiniLM-L6-v2, unit-length vectors), so the dot product is the
cosine similarity.
"""

from __future__ import annotations

import time

from lectern.contracts import SentenceScoreRequest, SentenceScoreResponse
from lectern_indexer.embedding import Embedder


async def score_sentences(
    embedder: Embedder, request: SentenceScoreRequest
) -> SentenceScoreResponse:
    """Embed the question and each sentence (one batch) and return their cosines.

    Args:
        embedder: the loaded embedder.
        request: the question and up to 256 sentences.

    Returns:
        One cosine in ``[-1, 1]`` per sentence, in order, and the time taken in ms.
    """
    started = time.perf_counter()
    vectors = await embedder.embed_dense([request.question, *request.sentences])
    question, sentences = vectors[0], vectors[1:]
    scores = [sum(q * s for q, s in zip(question, vector, strict=True)) for vector in sentences]
    return SentenceScoreResponse(scores=scores, latency_ms=(time.perf_counter() - started) * 1000)
