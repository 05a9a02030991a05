"""Collections at the gateway: the routes, and which collections a key may use (fakes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from tests.unit.gateway.auth_keys import headers, write_key_file
from tests.unit.gateway.test_api import FakeBackends

from lectern.contracts import (
    CollectionInfo,
    CollectionRequest,
    CollectionsResponse,
    DeleteDocument,
    IngestDocument,
    Message,
    SearchCompleted,
    SearchRequest,
    SearchResponse,
)
from lectern.reads import DocumentListRequest, DocumentListResponse
from lectern_gateway.app import create_app
from lectern_gateway.errors import NotFoundError, ServiceUnavailableError
from lectern_gateway.settings import GatewaySettings

REGISTRY = {"default": None, "team-a": datetime(2026, 12, 1, tzinfo=UTC), "team-b": None}


def indexer(service: str, request: Message) -> Any:
    """A fake indexer with collections ``default``, ``team-a``, ``team-b``."""
    if isinstance(request, SearchRequest):
        return SearchResponse(hits=[], latency_ms=1.0)
    if isinstance(request, DocumentListRequest):
        return DocumentListResponse(documents=[])
    assert isinstance(request, CollectionRequest)
    info = [
        CollectionInfo(name=n, created_at=c, document_count=1, chunk_count=2)
        for n, c in REGISTRY.items()
        if request.action == "list" or n == request.name
    ]
    if request.action == "create":
        info = [CollectionInfo(name=request.name or "", document_count=0, chunk_count=0)]
    elif not info:
        raise NotFoundError(f"no collection named {request.name!r}")
    return CollectionsResponse(collections=info, deleted_points=7)


@pytest.fixture
def backends(tmp_path: Path) -> FakeBackends:
    key_file = write_key_file(
        tmp_path / "keys.toml",
        reader={"collections": frozenset({"team-a"})},
        writer={"collections": frozenset({"team-a"})},
        admin={"collections": frozenset({"team-a", "team-b"})},
    )
    fake = FakeBackends(GatewaySettings(api_keys_file=key_file))
    fake.reply = indexer
    return fake


@pytest.fixture
def client(backends: FakeBackends) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(backends.settings, backends=backends)) as test_client:
        yield test_client


DOC = {"title": "T", "format": "text", "content": "some text"}


def test_admin_lists_only_its_collections_and_creates_within_them(
    client: TestClient[Any], backends: FakeBackends
):
    listed = client.get("/v1/collections", headers=headers("admin"))
    assert [c["name"] for c in listed.json()["collections"]] == ["team-a", "team-b"]
    created = client.post("/v1/collections", json={"name": "team-b"}, headers=headers("admin"))
    assert created.status_code == 201
    assert created.json()["name"] == "team-b"
    refused = client.post("/v1/collections", json={"name": "other"}, headers=headers("admin"))
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    bad = client.post("/v1/collections", json={"name": "Bad Name"}, headers=headers("admin"))
    assert bad.status_code == 400
    deleted = client.delete("/v1/collections/team-a", headers=headers("admin"))
    assert deleted.status_code == 200
    assert deleted.json()["deleted_points"] == 7
    assert client.get("/v1/collections/default", headers=headers("admin")).status_code == 403


def test_search_defaults_to_the_keys_collections_and_refuses_others(
    client: TestClient[Any], backends: FakeBackends
):
    assert client.post("/v1/search", json={"query": "q"}, headers=headers("reader")).is_success
    request = next(r for r in backends.requests if isinstance(r, SearchRequest))
    assert request.collections == ["team-a"]
    event = next(e for e in backends.events if isinstance(e, SearchCompleted))
    assert event.collections == ["team-a"]
    forbidden = client.post(
        "/v1/search", json={"query": "q", "collections": ["default"]}, headers=headers("reader")
    )
    assert forbidden.status_code == 403
    star = client.post(
        "/v1/search", json={"query": "q", "collections": ["*"]}, headers=headers("reader")
    )
    assert star.is_success
    denied = client.post(
        "/v1/answers", json={"question": "q", "collections": ["team-b"]}, headers=headers("reader")
    )
    assert denied.status_code == 403


def test_ingest_into_a_collection_the_key_may_not_use_or_that_is_unknown(
    client: TestClient[Any], backends: FakeBackends
):
    writer = headers("writer")
    assert client.post("/v1/documents", json=DOC, headers=writer).status_code == 403
    unknown = client.post(
        "/v1/documents", json={**DOC, "collection": "nope"}, headers=headers("writer")
    )
    assert unknown.status_code == 403  # not one of the key's collections: 403 before 404
    accepted = client.post("/v1/documents", json={**DOC, "collection": "team-a"}, headers=writer)
    assert accepted.status_code == 202
    assert accepted.json()["collection"] == "team-a"
    command = backends.commands[-1][0]
    assert isinstance(command, IngestDocument)
    assert command.collection == "team-a"
    batch = client.post(
        "/v1/documents:batch",
        json={"collection": "team-a", "documents": [DOC, {**DOC, "collection": "default"}]},
        headers=writer,
    )
    assert [r["status"] for r in batch.json()["results"]] == [202, 403]


def test_unknown_collection_is_404_and_a_down_indexer_does_not_block_ingest():
    settings = GatewaySettings(gateway_host="127.0.0.1")  # open mode: every collection
    fake = FakeBackends(settings)
    fake.reply = indexer
    with TestClient(create_app(settings, backends=fake)) as client:
        missing = client.post("/v1/documents", json={**DOC, "collection": "zzz"})
        assert missing.status_code == 404
        assert missing.json()["detail"] == "no collection named 'zzz'"
        assert client.post("/v1/documents", json={**DOC, "collection": "team-a"}).status_code == 202
        fake.reply = ServiceUnavailableError("indexer down")
        assert client.post("/v1/documents", json={**DOC, "collection": "yyy"}).status_code == 202
        assert client.post("/v1/documents", json=DOC).status_code == 202  # default: no RPC
    assert [c.collection for c, _ in fake.commands] == ["team-a", "yyy", "default"]


def test_delete_and_lists_name_the_collection(client: TestClient[Any], backends: FakeBackends):
    listed = client.get("/v1/documents", headers=headers("reader"))
    assert listed.is_success
    request = next(r for r in backends.requests if isinstance(r, DocumentListRequest))
    assert request.collections == ["team-a"]
    refused = client.get("/v1/documents?collection=default", headers=headers("reader"))
    assert refused.status_code == 403
    assert client.delete("/v1/documents/d1", headers=headers("writer")).status_code == 403


def test_models_list_a_model_per_collection_and_route_to_it(
    client: TestClient[Any], backends: FakeBackends
):
    models = client.get("/v1/models", headers=headers("admin")).json()["data"]
    assert [m["id"] for m in models] == ["lectern", "lectern/team-a", "lectern/team-b"]
    body = {"model": "lectern/team-a", "messages": [{"role": "user", "content": "q"}]}
    assert client.post("/v1/chat/completions", json=body, headers=headers("reader")).is_success
    request = [r for r in backends.requests if isinstance(r, SearchRequest)][-1]
    assert request.collections == ["team-a"]
    other = {**body, "model": "lectern/team-b"}
    assert (
        client.post("/v1/chat/completions", json=other, headers=headers("reader")).status_code
        == 403
    )
    bad = {**body, "model": "lectern/Bad"}
    assert (
        client.post("/v1/chat/completions", json=bad, headers=headers("reader")).status_code == 400
    )


def test_delete_command_carries_the_collection(backends: FakeBackends):
    from lectern.reads import DocumentStatusRequest, DocumentStatusResponse, DocumentView

    def reply(service: str, request: Message) -> Any:
        if isinstance(request, DocumentStatusRequest):
            now = datetime.now(UTC)
            view = DocumentView(
                document_id=request.document_id,
                collection=request.collection,
                status="indexed",
                first_seen_at=now,
                updated_at=now,
            )
            return DocumentStatusResponse(document=view)
        return indexer(service, request)

    backends.reply = reply
    with TestClient(create_app(backends.settings, backends=backends)) as client:
        done = client.delete("/v1/documents/d1?collection=team-a", headers=headers("writer"))
        assert done.status_code == 202, done.text
        assert done.json()["collection"] == "team-a"
    command = backends.commands[-1][0]
    assert isinstance(command, DeleteDocument)
    assert command.collection == "team-a"


@pytest.mark.parametrize("stream", [False, True])
def test_answers_search_only_the_keys_collections(
    client: TestClient[Any], backends: FakeBackends, stream: bool
):
    answered = client.post(
        "/v1/answers", json={"question": "q", "stream": stream}, headers=headers("reader")
    )
    assert answered.is_success
    searches = [r for r in backends.requests if isinstance(r, SearchRequest)]
    assert [s.collections for s in searches] == [["team-a"]]


def test_a_missing_scope_and_a_foreign_collection_are_the_same_problem(client: TestClient[Any]):
    scope = client.post("/v1/documents", json=DOC, headers=headers("reader"))
    collection = client.post(
        "/v1/search", json={"query": "q", "collections": ["default"]}, headers=headers("reader")
    )
    assert (scope.status_code, collection.status_code) == (403, 403)
    assert scope.json()["type"] == collection.json()["type"]
    assert scope.json()["title"] == collection.json()["title"] == "Forbidden"
    assert "'write' scope" in scope.json()["detail"]
