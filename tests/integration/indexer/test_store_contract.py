"""One contract, two adapters: Qdrant Edge (embedded) and the Qdrant server client.

The server adapter runs against qdrant-client's local mode, which speaks the same client
API. Vectors are small and hand-made, so these tests run at unit speed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import AsyncQdrantClient

from lectern.contracts import FusionMethod, MetadataFilter
from lectern_indexer.embedding import DENSE_DIMENSIONS, SparseVector
from lectern_indexer.fusion import FusionConfig
from lectern_indexer.stores.base import (
    ChunkPoint,
    VectorQuery,
    VectorStore,
    chunk_point_id,
)
from lectern_indexer.stores.edge import QdrantEdgeStore
from lectern_indexer.stores.server import QdrantServerStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
]


def axis(*weights: tuple[int, float]) -> list[float]:
    """A 384-d vector with the given (dimension, weight) entries."""
    vector = [0.0] * DENSE_DIMENSIONS
    for dimension, weight in weights:
        vector[dimension] = weight
    return vector


def point(
    document_id: str,
    index: int,
    dense: list[float],
    terms: dict[int, float],
    *,
    version: str = "v1",
    source: str | None = None,
    metadata: dict[str, object] | None = None,
    collection: str = "default",
) -> ChunkPoint:
    return ChunkPoint(
        id=chunk_point_id(document_id, version, index, collection),
        dense=dense,
        sparse=SparseVector(list(terms), list(terms.values())),
        payload={
            "collection": collection,
            "document_id": document_id,
            "version": version,
            "chunk_index": index,
            "chunk_count": 1,
            "title": document_id.title(),
            "source": source,
            "heading_path": ["H"],
            "text": f"text of {document_id} #{index}",
            "format": "text",
            "metadata": metadata or {},
            "indexed_at": "2026-01-01T00:00:00+00:00",
        },
    )


CORPUS = [
    point(
        "alpha",
        0,
        axis((0, 1.0)),
        {1: 1.0, 7: 1.0},
        source="s/a",
        metadata={"lang": "en", "level": 1, "draft": False, "tags": ["x", "y"]},
    ),
    point(
        "beta",
        0,
        axis((0, 0.8), (1, 0.6)),
        {1: 1.0, 2: 1.0},
        source="s/b",
        metadata={"lang": "de", "level": 2, "draft": True, "tags": ["y"]},
    ),
    point(
        "gamma",
        0,
        axis((1, 1.0)),
        {1: 1.0, 3: 1.0},
        source="s/c",
        metadata={"lang": "en", "level": 2, "draft": False},
    ),
]


@pytest.fixture(params=["edge", "server"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    adapter: VectorStore
    if request.param == "edge":
        adapter = QdrantEdgeStore(tmp_path / "shard")
    else:
        client = AsyncQdrantClient(location=":memory:")
        adapter = QdrantServerStore(client, "contract")
        _record_index_requests(client, adapter)
    await adapter.open()
    await adapter.upsert(CORPUS)
    try:
        yield adapter
    finally:
        await adapter.close()


def _record_index_requests(client: AsyncQdrantClient, store: QdrantServerStore) -> None:
    """Local mode accepts payload indexes but never reports them: record the requests."""
    created: set[str] = set()
    original = client.create_payload_index

    async def create_payload_index(collection_name: str, field_name: str, **kwargs: Any) -> Any:
        created.add(field_name)
        return await original(collection_name, field_name=field_name, **kwargs)

    client.create_payload_index = create_payload_index  # type: ignore[method-assign]
    store.indexed_fields = lambda: _as_awaitable(created)  # type: ignore[method-assign]


async def _as_awaitable(value: set[str]) -> set[str]:
    return set(value)


def query(
    mode: str, dense: list[float] | None = None, terms: dict[int, float] | None = None, **kw: object
) -> VectorQuery:
    sparse = SparseVector(list(terms), list(terms.values())) if terms is not None else None
    return VectorQuery(mode=mode, dense=dense, sparse=sparse, limit=int(kw.pop("limit", 10)), **kw)  # type: ignore[arg-type]


async def test_ping_and_payload_indexes(store: VectorStore):
    assert await store.ping() is True
    fields = await store.indexed_fields()
    assert {"document_id", "version", "source", "format", "chunk_index"} <= fields
    assert {"metadata.lang", "metadata.level", "metadata.draft", "metadata.tags"} <= fields
    assert await store.tenant_fields() == {"collection"}


async def test_dense_ranks_by_cosine(store: VectorStore):
    hits = await store.search(query("dense", dense=axis((0, 1.0))))
    assert [h.payload["document_id"] for h in hits] == ["alpha", "beta", "gamma"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].payload["text"] == "text of alpha #0"
    assert hits[0].id == chunk_point_id("alpha", "v1", 0)


async def test_sparse_applies_idf(store: VectorStore):
    # Term 1 is in every document; term 3 only in gamma: with IDF, gamma wins.
    hits = await store.search(query("sparse", terms={1: 1.0, 3: 1.0}))
    assert hits[0].payload["document_id"] == "gamma"
    assert {h.payload["document_id"] for h in hits} == {"alpha", "beta", "gamma"}


async def test_hybrid_fuses_both_rankings(store: VectorStore):
    rrf = FusionConfig("rrf", rrf_k=60)
    hits = await store.search(query("hybrid", dense=axis((1, 1.0)), terms={2: 1.0}, fusion=rrf))
    ranked = [h.payload["document_id"] for h in hits]
    # beta is 2nd by dense and 1st by sparse; gamma 1st by dense only.
    assert set(ranked[:2]) == {"beta", "gamma"}
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert hits[0].score < 1.0  # an RRF score, not a cosine


@pytest.mark.parametrize("method", ["rrf", "weighted_rrf", "dbsf", "convex"])
async def test_hybrid_explains_every_hit(store: VectorStore, method: FusionMethod):
    fusion = FusionConfig(method)
    hits = await store.search(query("hybrid", dense=axis((1, 1.0)), terms={2: 1.0}, fusion=fusion))
    explained = {h.payload["document_id"]: h.explain for h in hits}
    beta = explained["beta"]
    assert beta is not None
    assert (beta.dense_rank, beta.sparse_rank, beta.fusion) == (2, 1, method)
    assert beta.dense_score == pytest.approx(0.6, abs=1e-5)
    assert beta.sparse_score is not None
    assert beta.sparse_score > 0
    assert beta.fused_score == next(h.score for h in hits if h.payload["document_id"] == "beta")
    gamma = explained["gamma"]
    assert gamma is not None
    assert (gamma.dense_rank, gamma.sparse_rank, gamma.sparse_score) == (1, None, None)


@pytest.mark.parametrize("mode", ["dense", "sparse"])
async def test_tied_scores_rank_by_point_id(store: VectorStore, mode: str):
    # Every document holds term 1 once and has the same cosine to dimension 5: all tie.
    hits = await store.search(query(mode, dense=axis((5, 1.0)), terms={1: 1.0}))
    assert len({round(h.score, 6) for h in hits}) == 1
    assert [h.id for h in hits] == sorted(h.id for h in hits)
    assert all(h.explain is not None and h.explain.fusion == mode for h in hits)


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (MetadataFilter(document_ids=["beta", "gamma"]), {"beta", "gamma"}),
        (MetadataFilter(sources=["s/a"]), {"alpha"}),
        (MetadataFilter(metadata={"lang": "en"}), {"alpha", "gamma"}),
        (MetadataFilter(metadata={"level": 2, "lang": "en"}), {"gamma"}),
        (MetadataFilter(metadata={"draft": True}), {"beta"}),
        (MetadataFilter(metadata={"tags": "y"}), {"alpha", "beta"}),
        (MetadataFilter(document_ids=["alpha"], metadata={"lang": "de"}), set()),
    ],
)
@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
async def test_filters_hold_in_every_mode(
    store: VectorStore, mode: str, conditions: MetadataFilter, expected: set[str]
):
    hits = await store.search(query(mode, dense=axis((0, 1.0)), terms={1: 1.0}, filter=conditions))
    assert {h.payload["document_id"] for h in hits} == expected


async def test_document_points_lists_one_document_without_text(store: VectorStore):
    points = await store.document_points("beta")
    assert [p.id for p in points] == [chunk_point_id("beta", "v1", 0)]
    assert points[0].payload["version"] == "v1"
    assert points[0].payload["metadata"]["lang"] == "de"
    assert "text" not in points[0].payload
    assert await store.document_points("nope") == []


async def test_upsert_is_idempotent_and_delete_removes(store: VectorStore):
    await store.upsert(CORPUS)
    assert len(await store.document_points("alpha")) == 1
    await store.upsert([point("alpha", 1, axis((2, 1.0)), {9: 1.0}, version="v2")])
    assert {p.payload["version"] for p in await store.document_points("alpha")} == {"v1", "v2"}
    await store.delete_points([chunk_point_id("alpha", "v1", 0)])
    remaining = await store.document_points("alpha")
    assert [p.payload["version"] for p in remaining] == ["v2"]
    hits = await store.search(query("dense", dense=axis((0, 1.0))))
    assert chunk_point_id("alpha", "v1", 0) not in {h.id for h in hits}


async def test_set_payload_changes_what_filters_see(store: VectorStore):
    await store.set_payload(
        [chunk_point_id("gamma", "v1", 0)], {"metadata": {"lang": "fr"}, "source": "s/z"}
    )
    hits = await store.search(
        query("dense", dense=axis((1, 1.0)), filter=MetadataFilter(metadata={"lang": "fr"}))
    )
    assert [h.payload["document_id"] for h in hits] == ["gamma"]
    assert hits[0].payload["source"] == "s/z"
    assert hits[0].payload["text"] == "text of gamma #0"


async def test_many_points_page_through_document_points(store: VectorStore):
    many = [point("big", i, axis((i % 300, 1.0)), {i: 1.0}) for i in range(1200)]
    await store.upsert(many)
    assert len(await store.document_points("big")) == 1200


async def test_edge_data_survives_reopen(tmp_path: Path):
    first = QdrantEdgeStore(tmp_path / "shard")
    await first.open()
    await first.upsert(CORPUS)
    await first.close()
    second = QdrantEdgeStore(tmp_path / "shard")
    await second.open()
    try:
        assert len(await second.document_points("alpha")) == 1
        assert "metadata.lang" in await second.indexed_fields()
    finally:
        await second.close()


async def test_tombstone_round_trips_and_stays_out_of_search_and_listings(store: VectorStore):
    assert await store.tombstone("alpha") is None
    await store.put_tombstone("alpha", "2026-12-01T12:00:00.000000Z/" + "0" * 32)
    await store.put_tombstone("alpha", "2026-12-01T12:00:01.000000Z/" + "1" * 32)
    assert await store.tombstone("alpha") == "2026-12-01T12:00:01.000000Z/" + "1" * 32
    assert await store.tombstone("beta") is None
    assert [p.id for p in await store.document_points("alpha")] == [
        chunk_point_id("alpha", "v1", 0)
    ]
    for mode in ("dense", "sparse", "hybrid"):
        hits = await store.search(query(mode, dense=axis((0, 1.0)), terms={1: 1.0}, limit=50))
        assert len(hits) == len(CORPUS), mode
        assert all(h.payload.get("document_id") for h in hits), mode


async def test_order_key_is_listed_with_a_documents_points(store: VectorStore):
    keyed = point("delta", 0, axis((3, 1.0)), {4: 1.0})
    keyed.payload["order_key"] = "2026-12-01T12:00:00.000000Z/" + "a" * 32
    await store.upsert([keyed])
    listed = await store.document_points("delta")
    assert [p.payload["order_key"] for p in listed] == [keyed.payload["order_key"]]


async def test_one_document_id_in_two_collections_is_two_documents(store: VectorStore):
    twin = point("alpha", 0, axis((0, 1.0)), {1: 1.0}, collection="team-b", version="v9")
    await store.upsert([twin])
    assert twin.id != chunk_point_id("alpha", "v9", 0)
    assert [p.payload["version"] for p in await store.document_points("alpha")] == ["v1"]
    assert [p.id for p in await store.document_points("alpha", "team-b")] == [twin.id]
    await store.put_tombstone("alpha", "2026-12-01T12:00:00.000000Z/" + "0" * 32, "team-b")
    assert await store.tombstone("alpha") is None
    assert await store.tombstone("alpha", "team-b") is not None
    for collections, expected in [(("default",), "v1"), (("team-b",), "v9")]:
        hits = await store.search(query("dense", dense=axis((0, 1.0)), collections=collections))
        assert {h.payload["version"] for h in hits if h.payload["document_id"] == "alpha"} == {
            expected
        }


async def test_registry_counts_and_dropping_a_collection(store: VectorStore):
    assert await store.registered() == {}
    await store.register("team-b", "2026-12-01T12:00:00+00:00")
    await store.register("team-b", "2026-12-01T12:00:00+00:00")
    assert await store.registered() == {"team-b": "2026-12-01T12:00:00+00:00"}
    chunks = [point("doc", i, axis((i, 1.0)), {i: 1.0}, collection="team-b") for i in range(3)]
    await store.upsert([*chunks, point("other", 0, axis((5, 1.0)), {5: 1.0}, collection="team-b")])
    await store.put_tombstone("gone", "2026-12-01T12:00:00.000000Z/" + "0" * 32, "team-b")
    assert await store.count("team-b") == 4
    assert await store.count("team-b", first_chunks=True) == 2
    assert await store.count("default") == len(CORPUS)
    assert await store.drop_collection("team-b") == 5
    assert await store.registered() == {}
    assert await store.count("team-b") == 0
    assert await store.tombstone("gone", "team-b") is None
    assert await store.count("default") == len(CORPUS)


# ----------------------------------------------------------------- isolation (property)

TENANTS = ("default", "team-a", "team-b")
_docs = st.lists(
    st.tuples(
        st.sampled_from(TENANTS),
        st.sampled_from(("d1", "d2", "shared/x")),
        st.integers(min_value=0, max_value=7),
        st.sampled_from(("en", "de")),
    ),
    min_size=1,
    max_size=12,
)


def _open_store(kind: str, folder: Path) -> VectorStore:
    if kind == "edge":
        return QdrantEdgeStore(folder / "shard")
    return QdrantServerStore(AsyncQdrantClient(location=":memory:"), "isolation")


async def _isolation_case(
    kind: str,
    folder: Path,
    docs: list[tuple[str, str, int, str]],
    searched: tuple[str, ...],
    mode: str,
    conditions: MetadataFilter | None,
) -> None:
    store = _open_store(kind, folder)
    await store.open()
    try:
        points = {  # the last of two equal (collection, document, chunk) wins, as in the store
            (c, d, i): point(
                d,
                i,
                axis((i, 1.0), (8, 0.1)),
                {i: 1.0, 99: 0.5},
                collection=c,
                metadata={"lang": lang},
            )
            for c, d, i, lang in docs
        }
        await store.upsert(list(points.values()))
        hits = await store.search(
            query(
                mode,
                dense=axis((0, 1.0)),
                terms={99: 1.0},
                filter=conditions,
                collections=searched,
                limit=50,
            )
        )
        expected = {
            p.id
            for (c, d, _), p in points.items()
            if c in searched
            and (
                conditions is None
                or conditions.document_ids is None
                or d in conditions.document_ids
            )
            and (
                conditions is None
                or not conditions.metadata
                or p.payload["metadata"]["lang"] == conditions.metadata["lang"]
            )
        }
        assert {h.payload["collection"] for h in hits} <= set(searched)
        assert {h.id for h in hits} == expected  # every point shares the dense axis 8 and term 99
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["edge", "server"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    docs=_docs,
    searched=st.lists(st.sampled_from(TENANTS), min_size=1, max_size=3, unique=True).map(tuple),
    mode=st.sampled_from(("dense", "sparse", "hybrid")),
    conditions=st.one_of(
        st.none(),
        st.builds(
            MetadataFilter,
            document_ids=st.one_of(
                st.none(),
                st.lists(st.sampled_from(("d1", "d2", "shared/x")), min_size=1, max_size=2),
            ),
            metadata=st.one_of(st.none(), st.sampled_from(({"lang": "en"}, {"lang": "de"}))),
        ),
    ),
)
def test_a_search_never_returns_another_collections_chunks(
    kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    docs: list[tuple[str, str, int, str]],
    searched: tuple[str, ...],
    mode: str,
    conditions: MetadataFilter | None,
):
    folder = tmp_path_factory.mktemp("isolation")
    asyncio.run(_isolation_case(kind, folder, docs, searched, mode, conditions))
