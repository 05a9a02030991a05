"""Versions on real documents: re-ingest changes nothing, one changed file changes only itself."""

from __future__ import annotations

import pytest
from tests.integration.indexer.conftest import Bus, gazebo_command

from lectern.contracts import content_version
from lectern_indexer.app import IndexerRuntime

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCUMENTS = [
    "jetty/install_osx.md",
    "jetty/install_osx_src.md",
    "jetty/install_ubuntu.md",
    "jetty/install_windows.md",
    "jetty/hotkeys.md",
    "jetty/ros2_spawn_model.md",
]


async def _points(runtime: IndexerRuntime) -> dict[str, set[str]]:
    return {doc: {p.id for p in await runtime.store.document_points(doc)} for doc in DOCUMENTS}


def _indexed_with(correlation_id: str):
    return lambda e: e["event_type"] == "document.indexed" and e["correlation_id"] == correlation_id


async def test_reingest_and_one_changed_file(bus: Bus, indexer: IndexerRuntime):
    commands = {doc: gazebo_command(doc, correlation_id="first") for doc in DOCUMENTS}
    for command in commands.values():
        await bus.ingest(command)
    first = await bus.wait_for(_indexed_with("first"), count=len(DOCUMENTS), timeout=300)
    before = await _points(indexer)
    assert {doc: len(ids) for doc, ids in before.items()} == {
        e["document_id"]: e["chunk_count"] for e in first
    }

    for command in commands.values():
        await bus.ingest(command.model_copy(update={"correlation_id": "again"}))
    again = await bus.wait_for(_indexed_with("again"), count=len(DOCUMENTS), timeout=120)
    assert all(e["unchanged"] for e in again)
    assert await _points(indexer) == before

    changed_doc = "jetty/install_osx.md"
    content = commands[changed_doc].content + "\n\n## Apple silicon\n\nUse the arm64 bottles.\n"
    changed = commands[changed_doc].model_copy(
        update={"content": content, "version": content_version(content), "correlation_id": "v2"}
    )
    await bus.ingest(changed)
    (event,) = await bus.wait_for(_indexed_with("v2"), timeout=120)
    after = await _points(indexer)
    assert event["unchanged"] is False
    assert after[changed_doc].isdisjoint(before[changed_doc])  # new version, old one gone
    assert len(after[changed_doc]) == event["chunk_count"]
    assert {d: ids for d, ids in after.items() if d != changed_doc} == {
        d: ids for d, ids in before.items() if d != changed_doc
    }
    versions = {p.payload.get("version") for p in await indexer.store.document_points(changed_doc)}
    assert versions == {changed.version}
    print(
        f"points: first {sum(map(len, before.values()))}, after re-ingest "
        f"{sum(map(len, before.values()))}, after changing {changed_doc} "
        f"{sum(map(len, after.values()))} ({len(before[changed_doc])} -> "
        f"{len(after[changed_doc])} for it)"
    )

    relabelled = changed.model_copy(
        update={"metadata": {"platform": "macos"}, "correlation_id": "meta"}
    )
    await bus.ingest(relabelled)
    await bus.wait_for(_indexed_with("meta"), timeout=120)
    points = await indexer.store.document_points(changed_doc)
    assert {p.id for p in points} == after[changed_doc]  # same points, not re-embedded
    assert all(p.payload.get("metadata") == {"platform": "macos"} for p in points)
