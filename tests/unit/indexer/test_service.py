"""The service layer's version rules and input checks, with fakes (no I/O).

The store is the server adapter on qdrant-client's in-memory local mode; the embedder is
a deterministic bag-of-words fake that counts how many texts it embedded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient
from tests.conftest import GAZEBO_CORPUS
from tests.unit.indexer.fakes import FakeEmbedder

from lectern.contracts import (
    DeleteDocument,
    IngestDocument,
    MetadataFilter,
    SearchRequest,
    content_version,
)
from lectern_indexer.chunking import Chunker
from lectern_indexer.errors import InvalidDocumentError, InvalidRequestError
from lectern_indexer.service import IndexerService
from lectern_indexer.stores.server import QdrantServerStore

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
async def service(chunker: Chunker, embedder: FakeEmbedder) -> AsyncIterator[IndexerService]:
    store = QdrantServerStore(AsyncQdrantClient(location=":memory:"), "unit")
    await store.open()
    yield IndexerService(store, embedder, chunker, max_document_bytes=64 * 1024)
    await store.close()


def command(content: str, **fields: Any) -> IngestDocument:
    values: dict[str, Any] = {
        "document_id": "doc-1",
        "version": fields.get("version") or content_version(content),
        "title": "Doc",
        "format": "markdown",
        "content": content,
        **fields,
    }
    return IngestDocument(**values)


def gazebo(relative: str, **fields: Any) -> IngestDocument:
    content = (GAZEBO_CORPUS / relative).read_text(encoding="utf-8")
    return command(content, document_id=relative, title=relative, **fields)


async def versions(service: IndexerService, document_id: str) -> set[str]:
    return {p.payload["version"] for p in await service.store.document_points(document_id)}


async def test_unchanged_content_is_a_noop(service: IndexerService, embedder: FakeEmbedder):
    first = await service.ingest(gazebo("jetty/install_osx_src.md"))
    embedded = embedder.embedded
    again = await service.ingest(gazebo("jetty/install_osx_src.md"))
    assert first.unchanged is False
    assert again.unchanged is True
    assert again.chunk_count == first.chunk_count
    assert embedder.embedded == embedded


async def test_new_content_replaces_the_old_version(service: IndexerService):
    old = await service.ingest(command("# A\n\nOld text about turtles."))
    new = await service.ingest(command("# A\n\nNew text about rockets.\n\n## B\n\nMore rockets."))
    assert await versions(service, "doc-1") == {new.version}
    assert old.version != new.version
    hits = (await service.search(SearchRequest(query="turtles rockets", top_k=10))).hits
    assert {h.version for h in hits} == {new.version}
    assert len(hits) == new.chunk_count == 2


async def test_metadata_only_change_rewrites_payload_without_embedding(
    service: IndexerService, embedder: FakeEmbedder
):
    base = gazebo("jetty/install_osx.md", metadata={"lang": "en"}, source="a")
    await service.ingest(base)
    embedded = embedder.embedded
    result = await service.ingest(
        base.model_copy(update={"metadata": {"lang": "fr"}, "source": "b"})
    )
    assert result.unchanged is False
    assert embedder.embedded == embedded
    found = MetadataFilter(metadata={"lang": "fr"}, sources=["b"])
    hits = (await service.search(SearchRequest(query="brew install", filter=found))).hits
    assert hits
    assert all(h.metadata == {"lang": "fr"} and h.source == "b" for h in hits)


async def test_title_change_re_embeds(service: IndexerService, embedder: FakeEmbedder):
    base = gazebo("jetty/install_osx.md")
    first = await service.ingest(base)
    before = embedder.embedded
    await service.ingest(base.model_copy(update={"title": "Another title"}))
    assert embedder.embedded == before + first.chunk_count
    hits = (await service.search(SearchRequest(query="brew", top_k=10))).hits
    assert {h.title for h in hits} == {"Another title"}


async def test_delete_removes_every_chunk(service: IndexerService):
    result = await service.ingest(gazebo("jetty/install_osx_src.md"))
    delete = DeleteDocument(document_id="jetty/install_osx_src.md")
    assert (await service.delete(delete)).deleted_points == result.chunk_count
    assert await service.store.document_points("jetty/install_osx_src.md") == []
    again = await service.delete(delete)
    assert (again.deleted_points, again.superseded) == (0, False)


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_an_older_version_retried_after_a_newer_one_is_superseded(
    service: IndexerService,
):
    v1 = command("# A\n\nFirst text about turtles.", occurred_at=at(1))
    v2 = command("# A\n\nSecond text about rockets.", occurred_at=at(2))
    assert (await service.ingest(v2)).superseded is False
    late = await service.ingest(v1)  # v1 failed once and comes back from a retry tier
    assert late.superseded is True
    assert await versions(service, "doc-1") == {v2.version}
    hits = (await service.search(SearchRequest(query="turtles rockets", top_k=10))).hits
    assert {h.version for h in hits} == {v2.version}


async def test_an_ingest_retried_after_a_delete_stays_deleted(service: IndexerService):
    v1 = command("# A\n\nText about turtles.", occurred_at=at(1))
    await service.ingest(v1)
    assert (
        await service.delete(DeleteDocument(document_id="doc-1", occurred_at=at(2)))
    ).deleted_points
    late = await service.ingest(v1.model_copy(update={"title": "Retried"}))
    assert late.superseded is True
    assert await service.store.document_points("doc-1") == []
    assert (await service.search(SearchRequest(query="turtles", top_k=10))).hits == []


async def test_a_delete_older_than_the_indexed_version_is_superseded(service: IndexerService):
    v2 = command("# A\n\nText about rockets.", occurred_at=at(2))
    result = await service.ingest(v2)
    old_delete = await service.delete(DeleteDocument(document_id="doc-1", occurred_at=at(1)))
    assert (old_delete.superseded, old_delete.deleted_points) == (True, 0)
    assert len(await service.store.document_points("doc-1")) == result.chunk_count


async def test_a_newer_ingest_after_a_delete_indexes_again(service: IndexerService):
    await service.delete(DeleteDocument(document_id="doc-1", occurred_at=at(1)))
    again = await service.ingest(command("# A\n\nBack again.", occurred_at=at(2)))
    assert again.superseded is False
    assert len(await service.store.document_points("doc-1")) == again.chunk_count


async def test_redelivery_of_the_same_command_is_not_superseded(service: IndexerService):
    v1 = command("# A\n\nText about turtles.", occurred_at=at(1))
    await service.ingest(v1)
    again = await service.ingest(v1)
    assert (again.superseded, again.unchanged) == (False, True)


async def test_a_revert_to_old_content_keeps_the_newest_key(service: IndexerService):
    old = "# A\n\nOld text about turtles."
    await service.ingest(command(old, occurred_at=at(1)))
    v2 = command("# A\n\nNew text about rockets.", occurred_at=at(2))
    await service.ingest(v2)
    reverted = await service.ingest(command(old, occurred_at=at(3)))
    assert reverted.superseded is False
    assert (await service.ingest(v2)).superseded is True  # v2 retried after the revert
    assert await versions(service, "doc-1") == {content_version(old)}
    unchanged = await service.ingest(command(old, occurred_at=at(4)))
    assert unchanged.unchanged is True
    assert (await service.ingest(v2)).superseded is True


async def test_partial_version_is_completed_on_redelivery(service: IndexerService):
    doc = gazebo("jetty/install_osx_src.md")
    result = await service.ingest(doc)
    points = await service.store.document_points(doc.document_id)
    await service.store.delete_points([points[0].id])
    again = await service.ingest(doc)
    assert again.unchanged is False
    assert len(await service.store.document_points(doc.document_id)) == result.chunk_count


@pytest.mark.parametrize(
    ("content", "fields", "reason"),
    [
        ("", {}, "empty"),
        ("   \n\n  ", {}, "empty"),
        ("x" * (64 * 1024 + 1), {}, "over the limit"),
        ("PNG\x00\x01\x02binary", {}, "binary"),
        ("".join(chr(c) for c in range(1, 32)) * 10, {}, "binary"),
        ("bad \ud800 surrogate", {"version": "0" * 64}, "UTF-8"),
        (
            "<html><script>alert(1)</script><style>p{}</style></html>",
            {"format": "html"},
            "no indexable text",
        ),
        ("real text", {"version": "0" * 64}, "does not match"),
    ],
)
async def test_invalid_documents_are_refused(
    service: IndexerService, content: str, fields: dict[str, Any], reason: str
):
    values = dict(fields)
    with pytest.raises(InvalidDocumentError, match=reason):
        await service.ingest(command(content, **values))


async def test_search_modes_and_unsafe_filter_keys(service: IndexerService):
    await service.ingest(gazebo("jetty/install_osx.md"))
    await service.ingest(gazebo("jetty/hotkeys.md"))
    for mode in ("dense", "sparse", "hybrid"):
        hits = (await service.search(SearchRequest(query="brew gz-jetty", mode=mode))).hits  # type: ignore[arg-type]
        assert hits[0].document_id == "jetty/install_osx.md", mode
    only_stop_words = await service.search(SearchRequest(query="the of and", mode="sparse"))
    assert only_stop_words.hits == []
    with pytest.raises(InvalidRequestError):
        await service.search(SearchRequest(query="x", filter=MetadataFilter(metadata={"a.b": "c"})))


async def test_ping_reports_the_store(service: IndexerService):
    ping = await service.ping()
    assert (ping.service, ping.store, ping.store_ok) == ("indexer", "qdrant-server", True)
