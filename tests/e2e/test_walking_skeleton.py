"""The walking skeleton end to end.

HTTP → RabbitMQ → indexer (real model, Qdrant Edge) → search over RPC; every event →
session-logger → Postgres, exactly once: the test waits until every event it checks is
stored, then reads the projections back (document status, session counters, analytics),
which the event log's primary key alone does not keep right.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import GAZEBO_CORPUS
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SESSION = "e2e-session"

DOCUMENTS = [
    "jetty/install_osx.md",
    "jetty/install_osx_src.md",
    "jetty/install_ubuntu.md",
    "jetty/install_windows.md",
    "jetty/troubleshooting.md",
    "jetty/ros2_spawn_model.md",
]


def _ingest(client: httpx.Client, document_id: str) -> dict[str, Any]:
    path = GAZEBO_CORPUS / document_id
    response = client.post(
        "/v1/documents",
        json={
            "document_id": document_id,
            "title": path.read_text(encoding="utf-8").splitlines()[0].lstrip("# "),
            "source": f"gazebo-docs/{document_id}",
            "format": "markdown",
            "content": path.read_text(encoding="utf-8"),
        },
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def _events(database_url: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(await connection.fetch("SELECT event_id, event_type, document_id FROM events"))
    finally:
        await connection.close()


def _wait_for(predicate: Any, database_url: str, timeout: float, stack: Stack) -> list[Any]:
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = asyncio.run(_events(database_url))
        if predicate(rows):
            return rows
        time.sleep(1)
    logs = "\n".join(stack.log_tail(name) for name in ("indexer", "session-logger"))
    raise AssertionError(f"timed out; {len(rows)} events stored\n{logs}")


def test_ingest_search_and_event_log(stack: Stack):
    database_url = stack.env["DATABASE_URL"]
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        accepted = {doc: _ingest(client, doc) for doc in DOCUMENTS}
        indexed = _wait_for(
            lambda rows: (
                {r["document_id"] for r in rows if r["event_type"] == "document.indexed"}
                >= set(DOCUMENTS)
            ),
            database_url,
            timeout=300,
            stack=stack,
        )
        assert not [r for r in indexed if r["event_type"] == "document.failed"]

        response = client.post(
            "/v1/search",
            json={"query": "How do I install Gazebo on macOS?", "top_k": 3, "session_id": SESSION},
        )
        assert response.status_code == 200, response.text
        result = response.json()
        top3 = [hit["document_id"] for hit in result["hits"]]
        assert {"jetty/install_osx.md", "jetty/install_osx_src.md"} & set(top3), top3
        hit = result["hits"][0]
        assert hit["heading_path"], hit
        assert hit["text"]
        assert hit["chunk_id"]
        assert result["latency_ms"] > 0

        # Re-sending unchanged content answers the same version and indexes nothing new.
        again = _ingest(client, "jetty/install_osx.md")
        assert again["version"] == accepted["jetty/install_osx.md"]["version"]

        def settled(rows: list[Any]) -> bool:
            types = [r["event_type"] for r in rows]
            return (
                types.count("search.completed") == 1
                and types.count("document.accepted") == len(DOCUMENTS) + 1
                and types.count("document.indexed") == len(DOCUMENTS) + 1  # the re-send too
            )

        # Every event checked below is stored before anything is read back.
        rows = _wait_for(settled, database_url, timeout=300, stack=stack)
        by_type: dict[str, int] = {}
        for row in rows:
            by_type[row["event_type"]] = by_type.get(row["event_type"], 0) + 1
        print("events by type:", by_type)

        # What the event log's primary key does not guarantee: the projections.
        for document_id in DOCUMENTS:
            status = client.get(f"/v1/documents/{document_id}")
            assert status.status_code == 200, status.text
            assert status.json()["status"] == "indexed", status.json()
            assert status.json()["chunk_count"] > 0
            assert status.json()["source"] == f"gazebo-docs/{document_id}"
        assert client.get("/v1/documents/no-such-doc").status_code == 404
        session = client.get(f"/v1/sessions/{SESSION}")
        assert session.status_code == 200, session.text
        counters = {k: session.json()[k] for k in ("search_count", "answer_count", "event_count")}
        assert counters == {"search_count": 1, "answer_count": 0, "event_count": 1}
        summary = client.get("/v1/analytics/summary")
        assert summary.status_code == 200, summary.text
        assert (summary.json()["searches"], summary.json()["answers"]) == (1, 0)
