"""Collections through the running indexer: RPC lifecycle, events, ingest and search.

Real RabbitMQ, Qdrant Edge and the embedding model; one small Gazebo page per collection.
"""

from __future__ import annotations

import pytest
from tests.integration.indexer.conftest import Bus, gazebo_command

from lectern import topology
from lectern.contracts import (
    CollectionAction,
    CollectionRequest,
    CollectionsResponse,
    RpcError,
    SearchRequest,
    SearchResponse,
)
from lectern.rpc import RpcClient

pytestmark = pytest.mark.integration

PAGE = "jetty/ros2_spawn_model.md"


async def _rpc(rpc: RpcClient, action: CollectionAction, name: str | None = None) -> object:
    request = CollectionRequest(action=action, name=name, correlation_id="coll-test")
    raw = await rpc.call(topology.INDEXER_RPC_QUEUE, request.model_dump_json().encode(), timeout=10)
    try:
        return CollectionsResponse.model_validate_json(raw)
    except ValueError:
        return RpcError.model_validate_json(raw)


async def _search(rpc: RpcClient, collections: list[str] | None) -> SearchResponse:
    request = SearchRequest(query="spawn a model", top_k=20, collections=collections)
    raw = await rpc.call(topology.INDEXER_RPC_QUEUE, request.model_dump_json().encode(), timeout=10)
    return SearchResponse.model_validate_json(raw)


async def test_create_ingest_search_and_delete_a_collection(bus: Bus, rpc: RpcClient):
    await bus.ingest(gazebo_command(PAGE, collection="robots"))
    (refused,) = await bus.wait_for(lambda e: e["event_type"] == "document.failed")
    assert refused["collection"] == "robots"
    assert "collection 'robots' does not exist" in refused["reason"]
    await bus.drain_dlq(1)

    created = await _rpc(rpc, "create", "robots")
    assert isinstance(created, CollectionsResponse)
    (event,) = await bus.wait_for(lambda e: e["event_type"] == "collection.created")
    assert (event["collection"], event["correlation_id"]) == ("robots", "coll-test")
    await bus.ingest(gazebo_command(PAGE, collection="robots"))
    await bus.ingest(gazebo_command(PAGE))
    indexed = await bus.wait_for(lambda e: e["event_type"] == "document.indexed", count=2)
    assert {e["collection"] for e in indexed} == {"robots", "default"}

    robots = await _search(rpc, ["robots"])
    assert robots.hits
    assert {h.collection for h in robots.hits} == {"robots"}
    both = await _search(rpc, None)
    assert {h.collection for h in both.hits} == {"robots", "default"}
    assert {h.chunk_id for h in robots.hits}.isdisjoint(
        {h.chunk_id for h in both.hits if h.collection == "default"}
    )

    deleted = await _rpc(rpc, "delete", "robots")
    assert isinstance(deleted, CollectionsResponse)
    assert deleted.deleted_points == deleted.collections[0].chunk_count
    (gone,) = await bus.wait_for(lambda e: e["event_type"] == "collection.deleted")
    assert gone["deleted_points"] == deleted.deleted_points
    assert {h.collection for h in (await _search(rpc, None)).hits} == {"default"}
    missing = await _rpc(rpc, "get", "robots")
    assert isinstance(missing, RpcError)
    assert missing.status == 404
