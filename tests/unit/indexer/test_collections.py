"""Collections in the service layer: the registry, unknown collections, one id in two.

Store: the server adapter on qdrant-client's local mode; embedder: the bag-of-words fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from qdrant_client import AsyncQdrantClient
from tests.unit.indexer.fakes import FakeEmbedder
from tests.unit.indexer.test_service import command

from lectern.contracts import (
    CollectionRequest,
    CollectionsResponse,
    DeleteDocument,
    RpcError,
    SearchRequest,
)
from lectern_indexer.chunking import Chunker
from lectern_indexer.consumers import answer_rpc
from lectern_indexer.errors import InvalidDocumentError
from lectern_indexer.service import IndexerService
from lectern_indexer.stores.server import QdrantServerStore

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

TEXT = "# Rovers\n\nThe rover drives over sand dunes with six wheels.\n"


@pytest.fixture
async def service(chunker: Chunker) -> AsyncIterator[IndexerService]:
    store = QdrantServerStore(AsyncQdrantClient(location=":memory:"), "unit")
    await store.open()
    yield IndexerService(store, FakeEmbedder(), chunker, max_document_bytes=64 * 1024)
    await store.close()


async def rpc(service: IndexerService, action: str, name: str | None = None) -> object:
    body = CollectionRequest(action=action, name=name).model_dump_json().encode()  # type: ignore[arg-type]
    return await answer_rpc(service, body)


async def test_ingest_into_an_unknown_collection_is_invalid(service: IndexerService):
    with pytest.raises(InvalidDocumentError, match="collection 'team-a' does not exist"):
        await service.ingest(command(TEXT, collection="team-a"))


async def test_create_list_get_and_conflicts(service: IndexerService):
    created = await rpc(service, "create", "team-a")
    assert isinstance(created, CollectionsResponse)
    assert created.collections[0].name == "team-a"
    again = await rpc(service, "create", "team-a")
    assert isinstance(again, RpcError)
    assert again.status == 409
    assert isinstance(await rpc(service, "create", "default"), RpcError)
    missing = await rpc(service, "get", "nope")
    assert isinstance(missing, RpcError)
    assert missing.status == 404
    refused = await rpc(service, "delete", "default")
    assert isinstance(refused, RpcError)
    assert refused.status == 409
    listed = await rpc(service, "list")
    assert isinstance(listed, CollectionsResponse)
    assert [c.name for c in listed.collections] == ["default", "team-a"]


async def test_one_id_in_two_collections_then_dropping_one(service: IndexerService):
    await rpc(service, "create", "team-a")
    in_default = await service.ingest(command(TEXT))
    in_team = await service.ingest(command(TEXT + "\nDunes.\n", collection="team-a"))
    assert in_default.chunk_count == in_team.chunk_count == 1
    both = await service.search(SearchRequest(query="rover sand", top_k=10))
    assert sorted(h.collection for h in both.hits) == ["default", "team-a"]
    only = await service.search(SearchRequest(query="rover sand", collections=["team-a"]))
    assert [(h.collection, h.version) for h in only.hits] == [("team-a", in_team.version)]
    info = await rpc(service, "get", "team-a")
    assert isinstance(info, CollectionsResponse)
    assert (info.collections[0].document_count, info.collections[0].chunk_count) == (1, 1)
    dropped = await rpc(service, "delete", "team-a")
    assert isinstance(dropped, CollectionsResponse)
    assert dropped.deleted_points == 1
    left = await service.search(SearchRequest(query="rover sand", top_k=10))
    assert [h.collection for h in left.hits] == ["default"]
    gone = await service.delete(DeleteDocument(document_id="doc-1", collection="team-a"))
    assert gone.deleted_points == 0
    assert await service.store.tombstone("doc-1", "team-a") is None
