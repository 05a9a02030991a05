"""Each read is one statement served by an index (EXPLAIN with sequential scans off)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from lectern_session_logger import queries

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def plan_of(db: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        raw = await db.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    return _nodes(json.loads(raw)[0]["Plan"])


def seq_scans(nodes: list[dict[str, Any]]) -> list[str]:
    return [str(n.get("Relation Name")) for n in nodes if n["Node Type"] == "Seq Scan"]


def relations(nodes: list[dict[str, Any]]) -> set[str]:
    return {str(n["Relation Name"]) for n in nodes if "Relation Name" in n}


@pytest.mark.parametrize(
    ("name", "sql", "args"),
    [
        (
            "session_history",
            queries.SESSION_HISTORY,
            ("s", datetime(1, 1, 1, tzinfo=UTC), UUID(int=0), 101, "key:x"),
        ),
        ("document_status", queries.DOCUMENT_STATUS, ("d", "default")),
        ("document_list", queries.DOCUMENT_LIST, ("", 51, None, "")),
        ("document_list_in", queries.DOCUMENT_LIST, ("", 51, ["team-a"], "")),
        (
            "document_list_by_status",
            queries.DOCUMENT_LIST_BY_STATUS,
            ("", 51, ["team-a"], "", "failed"),
        ),
        (
            "analytics_summary",
            queries.ANALYTICS_SUMMARY,
            (NOW - timedelta(days=1), NOW, 10, 100, None),
        ),
        (
            "analytics_summary_in",
            queries.ANALYTICS_SUMMARY,
            (NOW - timedelta(days=1), NOW, 10, 100, ["team-a"]),
        ),
    ],
)
async def test_read_uses_indexes(db: asyncpg.Connection, name: str, sql: str, args: Any):
    nodes = await plan_of(db, sql, *args)
    assert seq_scans(nodes) == [], f"{name} scans sequentially: {seq_scans(nodes)}"


async def test_analytics_prunes_partitions_outside_the_window(db: asyncpg.Connection):
    today = NOW.date()
    since = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    nodes = await plan_of(
        db, queries.ANALYTICS_SUMMARY, since, since + timedelta(days=1), 10, 100, None
    )
    event_partitions = {r for r in relations(nodes) if r.startswith("events_")}
    assert event_partitions == {f"events_p{today:%Y%m%d}"}
