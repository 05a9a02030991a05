"""The query embedding session (``QUERY_THREADS``, ``QUERY_WORKERS``), on the real models.

Queries run on an ONNX session of their own with one intra-op thread by default (an
intra-op pool over every core spends about twice the CPU per query on shared cores, see
:mod:`lectern_indexer.embedding`), while document batches keep ONNX Runtime's default.
Both sessions are the same model: a text embeds to the same vector on either.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from tests.conftest import DENSE_MODEL_PATH, SPARSE_MODEL_PATH

from lectern_indexer.embedding import FastembedEmbedder
from lectern_indexer.settings import IndexerSettings

pytestmark = pytest.mark.integration

TEXTS = [
    "how do I bump the major version",
    "0-dimensional biomaterials show inductive properties.",
    "Gazebo plugins: writing a model plugin",
]


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[FastembedEmbedder]:
    defaults = IndexerSettings.model_fields
    model = FastembedEmbedder(
        DENSE_MODEL_PATH,
        SPARSE_MODEL_PATH,
        query_threads=defaults["query_threads"].default,
        query_workers=defaults["query_workers"].default,
    )
    await model.load()
    yield model
    await model.close()


async def test_queries_have_a_single_threaded_session_of_their_own(
    embedder: FastembedEmbedder,
) -> None:
    assert embedder.intra_op_threads() == {"documents": 0, "queries": 1}


async def test_a_query_embeds_as_the_same_text_does_on_the_document_session(
    embedder: FastembedEmbedder,
) -> None:
    documents = await embedder.embed_documents(TEXTS)
    queries = await asyncio.gather(*(embedder.embed_query(text) for text in TEXTS))
    for document, query in zip(documents, queries, strict=True):
        assert len(query.dense) == 384
        cosine = sum(a * b for a, b in zip(document.dense, query.dense, strict=True))
        assert math.isclose(cosine, 1.0, abs_tol=1e-5)
        assert set(query.sparse.indices) == set(document.sparse.indices)


async def test_concurrent_queries_each_get_their_own_vector(embedder: FastembedEmbedder) -> None:
    alone = [await embedder.embed_query(text) for text in TEXTS]
    together = await asyncio.gather(*(embedder.embed_query(text) for text in TEXTS * 4))
    assert together == alone * 4
