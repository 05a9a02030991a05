"""Collections end to end: two knowledge bases in one stack stay apart.

Create a collection, ingest one small real document into it and one into ``default``,
search each (every hit from the searched collection), read the counts, delete the
collection: its chunks are gone from search, ``default`` keeps its own, and the deleted
collection's document is ``deleted`` in the projection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import GAZEBO_CORPUS
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEAM = "robots"
TEAM_DOC = "jetty/ros2_spawn_model.md"
DEFAULT_DOC = "jetty/install_osx.md"


def _ingest(client: httpx.Client, document_id: str, collection: str) -> None:
    content = (GAZEBO_CORPUS / document_id).read_text(encoding="utf-8")
    response = client.post(
        "/v1/documents",
        json={
            "document_id": document_id,
            "title": content.splitlines()[0].lstrip("# "),
            "format": "markdown",
            "content": content,
            "collection": collection,
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["collection"] == collection


def _until(check: Callable[[], Any], stack: Stack, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    logs = "\n".join(stack.log_tail(name) for name in ("indexer", "session-logger"))
    raise AssertionError(f"condition not met within {timeout} s\n{logs}")


def _status(client: httpx.Client, document_id: str, collection: str) -> str | None:
    response = client.get(f"/v1/documents/{document_id}", params={"collection": collection})
    return response.json()["status"] if response.status_code == 200 else None


def _search(client: httpx.Client, query: str, collections: list[str]) -> list[dict[str, Any]]:
    response = client.post(
        "/v1/search", json={"query": query, "top_k": 10, "collections": collections}
    )
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def test_two_collections_stay_apart_and_one_is_deleted(stack: Stack):
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        unknown = client.post(
            "/v1/documents",
            json={"title": "t", "format": "text", "content": "x", "collection": TEAM},
        )
        assert unknown.status_code == 404, unknown.text
        created = client.post("/v1/collections", json={"name": TEAM})
        assert created.status_code == 201, created.text
        assert client.post("/v1/collections", json={"name": TEAM}).status_code == 409
        _ingest(client, TEAM_DOC, TEAM)
        _ingest(client, DEFAULT_DOC, "default")
        _until(lambda: _status(client, TEAM_DOC, TEAM) == "indexed", stack)
        _until(lambda: _status(client, DEFAULT_DOC, "default") == "indexed", stack)
        assert _status(client, TEAM_DOC, "default") is None  # ids are per collection

        team_hits = _search(client, "spawn a robot model", [TEAM])
        default_hits = _search(client, "spawn a robot model", ["default"])
        assert team_hits
        assert {h["collection"] for h in team_hits} == {TEAM}
        assert {h["document_id"] for h in team_hits} == {TEAM_DOC}
        assert {h["collection"] for h in default_hits} == {"default"}
        assert {h["collection"] for h in _search(client, "install", ["*"])} == {TEAM, "default"}

        listed = {c["name"]: c for c in client.get("/v1/collections").json()["collections"]}
        print("collections:", listed)
        assert listed[TEAM]["document_count"] == 1
        assert listed[TEAM]["chunk_count"] == len(team_hits)  # top_k 10 > its 6 chunks
        assert listed["default"]["document_count"] == 1
        docs = client.get("/v1/documents", params={"collection": TEAM}).json()["documents"]
        assert [(d["collection"], d["document_id"]) for d in docs] == [(TEAM, TEAM_DOC)]

        deleted = client.delete(f"/v1/collections/{TEAM}")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["deleted_points"] >= listed[TEAM]["chunk_count"]
        assert client.delete("/v1/collections/default").status_code == 409
        assert client.get(f"/v1/collections/{TEAM}").status_code == 404
        everywhere = _search(client, "spawn a robot model", ["*"])
        assert {h["collection"] for h in everywhere} == {"default"}
        _until(lambda: _status(client, TEAM_DOC, TEAM) == "deleted", stack)
        models = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert models == ["lectern", "lectern/default"]
