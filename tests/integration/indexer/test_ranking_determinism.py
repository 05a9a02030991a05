"""Identical index + identical query -> identical ranking and scores, on both stores.

A fresh index of a few real Gazebo documents (real models, real Qdrant Edge / qdrant-client
local mode) holds one document twice under two ids, so its chunks tie exactly in every
mode. The same queries run twice; rankings and scores must match, and tied hits must come
in point-id order (Qdrant's own RRF orders tied points differently from call to call).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient
from tests.conftest import DENSE_MODEL_PATH, GAZEBO_CORPUS, SPARSE_MODEL_PATH

from lectern.contracts import FusionMethod, IngestDocument, SearchMode, content_version
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.embedding import FastembedEmbedder
from lectern_indexer.fusion import FusionConfig
from lectern_indexer.service import IndexerService, SearchSettings
from lectern_indexer.stores.base import VectorStore
from lectern_indexer.stores.edge import QdrantEdgeStore
from lectern_indexer.stores.server import QdrantServerStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
]

DOCUMENTS = {
    "releasing/bump_major.md": "common/releasing/bump_major.md",
    "releasing/release_repositories.md": "common/releasing/release_repositories.md",
    "releasing/versioning_pre_nightly.md": "common/releasing/versioning_pre_nightly.md",
    "copy/versioning_pre_nightly.md": "common/releasing/versioning_pre_nightly.md",
}
QUERIES = [
    "how do I bump the major version",
    "nightly and pre-release version numbers",
    "release repositories",
]
MODES: list[tuple[SearchMode, FusionMethod | None]] = [
    ("dense", None),
    ("sparse", None),
    ("hybrid", "rrf"),
    ("hybrid", "weighted_rrf"),
    ("hybrid", "dbsf"),
    ("hybrid", "convex"),
]


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[FastembedEmbedder]:
    model = FastembedEmbedder(DENSE_MODEL_PATH, SPARSE_MODEL_PATH)
    await model.load()
    yield model
    await model.close()


@pytest.fixture(params=["edge", "server"])
async def service(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: FastembedEmbedder
) -> AsyncIterator[IndexerService]:
    store: VectorStore
    if request.param == "edge":
        store = QdrantEdgeStore(tmp_path / "shard")
    else:
        store = QdrantServerStore(AsyncQdrantClient(location=":memory:"), "determinism")
    await store.open()
    chunker = Chunker(WordPieceCounter.from_model_path(DENSE_MODEL_PATH))
    settings = SearchSettings(fusion=FusionConfig(rrf_k=60), timeout=120)
    indexer = IndexerService(store, embedder, chunker, max_document_bytes=1 << 20, search=settings)
    for document_id, relative in DOCUMENTS.items():
        content = (GAZEBO_CORPUS / relative).read_text(encoding="utf-8")
        await indexer.ingest(
            IngestDocument(
                document_id=document_id,
                version=content_version(content),
                title=Path(relative).stem,
                format="markdown",
                content=content,
            )
        )
    try:
        yield indexer
    finally:
        await store.close()


async def _rankings(indexer: IndexerService) -> list[list[tuple[str, float]]]:
    rankings = []
    for text, (mode, fusion) in itertools.product(QUERIES, MODES):
        points = await indexer.retrieve(text, mode, 20, fusion=fusion)
        rankings.append([(p.id, p.score) for p in points])
    return rankings


async def test_identical_queries_rank_identically_and_ties_by_point_id(service: IndexerService):
    first = await _rankings(service)
    second = await _rankings(service)
    assert first == second
    ties = 0
    for ranking in first:
        for (id_a, score_a), (id_b, score_b) in itertools.pairwise(ranking):
            assert score_a >= score_b
            if score_a == score_b:
                ties += 1
                assert id_a < id_b
    assert ties > 0  # the copied document makes ties: the test exercises them
