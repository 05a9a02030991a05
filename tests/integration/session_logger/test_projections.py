"""The documents projection keeps the newest state whatever the arrival order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from tests.integration.session_logger.conftest import wait_for_rows

from lectern.broker import publish_event
from lectern.contracts import (
    DocumentAccepted,
    DocumentDeleted,
    DocumentIndexed,
    DocumentIndexingFailed,
)

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(hours=1)


def accepted(
    doc: str, minute: int, version: str = "v1", title: str = "T1", source: str | None = None
) -> DocumentAccepted:
    return DocumentAccepted(
        document_id=doc,
        version=version,
        title=title,
        source=source,
        format="markdown",
        size_bytes=1,
        occurred_at=T0 + timedelta(minutes=minute),
    )


def indexed(doc: str, minute: int, version: str = "v1", chunks: int = 4) -> DocumentIndexed:
    return DocumentIndexed(
        document_id=doc,
        version=version,
        chunk_count=chunks,
        occurred_at=T0 + timedelta(minutes=minute),
    )


async def status(db: asyncpg.Connection, doc: str) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM documents WHERE document_id = $1", doc)
    assert row is not None
    return row


async def test_older_accepted_after_indexed_does_not_regress(
    publisher: RabbitBroker, db: asyncpg.Connection
):
    await publish_event(publisher, indexed("d", 2))
    await wait_for_rows(db, 1)
    await publish_event(publisher, accepted("d", 1))
    await wait_for_rows(db, 2)
    row = await status(db, "d")
    assert (row["status"], row["chunk_count"], row["title"]) == ("indexed", 4, "T1")
    assert row["updated_at"] == T0 + timedelta(minutes=2)
    assert row["first_seen_at"] == T0 + timedelta(minutes=1)


async def test_out_of_order_events_in_one_batch(publisher: RabbitBroker, db: asyncpg.Connection):
    events = [
        DocumentDeleted(document_id="d", deleted_points=4, occurred_at=T0 + timedelta(minutes=9)),
        indexed("d", 2),
        accepted("d", 1),
        accepted("e", 5, version="v2", title="New"),
        DocumentIndexingFailed(
            document_id="e", version="v2", reason="parse", occurred_at=T0 + timedelta(minutes=6)
        ),
        indexed("e", 3),
        accepted("e", 1, title="Old"),
    ]
    await asyncio.gather(*(publish_event(publisher, event) for event in events))
    await wait_for_rows(db, len(events))
    d = await status(db, "d")
    assert (d["status"], d["title"]) == ("deleted", "T1")
    e = await status(db, "e")
    assert (e["status"], e["version"], e["failure_reason"], e["title"]) == (
        "failed",
        "v2",
        "parse",
        "New",
    )


async def test_newer_version_replaces_and_late_older_title_does_not(
    publisher: RabbitBroker, db: asyncpg.Connection
):
    for event in (accepted("d", 1), indexed("d", 2), accepted("d", 5, "v2", "T2")):
        await publish_event(publisher, event)
    await wait_for_rows(db, 3)
    row = await status(db, "d")
    assert (row["status"], row["version"], row["chunk_count"], row["title"]) == (
        "accepted",
        "v2",
        None,
        "T2",
    )
    await publish_event(publisher, indexed("d", 6, "v2", chunks=9))
    await publish_event(publisher, accepted("d", 0, "v0", "T0"))  # very late and very old
    await wait_for_rows(db, 5)
    row = await status(db, "d")
    assert (row["status"], row["version"], row["chunk_count"], row["title"]) == (
        "indexed",
        "v2",
        9,
        "T2",
    )


async def test_superseded_outcomes_leave_the_status_alone(
    publisher: RabbitBroker, db: asyncpg.Connection
):
    late_v1 = DocumentIndexed(
        document_id="s",
        version="v1",
        chunk_count=0,
        superseded=True,
        occurred_at=T0 + timedelta(minutes=5),
    )
    late_delete = DocumentDeleted(
        document_id="s", deleted_points=0, superseded=True, occurred_at=T0 + timedelta(minutes=6)
    )
    await publish_event(publisher, indexed("s", 2, version="v2", chunks=3))
    await wait_for_rows(db, 1)
    await publish_event(publisher, late_v1)
    await publish_event(publisher, late_delete)
    await wait_for_rows(db, 3)
    row = await status(db, "s")
    assert (row["status"], row["version"], row["chunk_count"]) == ("indexed", "v2", 3)
    assert row["updated_at"] == T0 + timedelta(minutes=2)


async def test_a_reingest_without_source_clears_the_source(
    publisher: RabbitBroker, db: asyncpg.Connection
):
    for event in (accepted("d", 1, source="books/a.md"), indexed("d", 2)):
        await publish_event(publisher, event)
    await wait_for_rows(db, 2)
    assert (await status(db, "d"))["source"] == "books/a.md"
    await publish_event(publisher, accepted("d", 3, "v2", "T2", source=None))
    await wait_for_rows(db, 3)
    await publish_event(publisher, indexed("d", 4, "v2"))
    await wait_for_rows(db, 4)
    row = await status(db, "d")
    assert (row["status"], row["version"], row["title"], row["source"]) == (
        "indexed",
        "v2",
        "T2",
        None,
    )
    await publish_event(publisher, accepted("d", 0, "v0", source="old/late.md"))  # late, older
    await wait_for_rows(db, 5)
    assert (await status(db, "d"))["source"] is None


def deleted(doc: str, minute: int) -> DocumentDeleted:
    return DocumentDeleted(
        document_id=doc, deleted_points=0, occurred_at=T0 + timedelta(minutes=minute)
    )


async def test_a_delete_of_a_never_seen_document_makes_no_status_row(
    publisher: RabbitBroker, db: asyncpg.Connection
):
    await publish_event(publisher, deleted("ghost", 1))
    await wait_for_rows(db, 1)
    await asyncio.gather(
        publish_event(publisher, deleted("ghost", 2)),
        publish_event(publisher, accepted("real", 1)),
        publish_event(publisher, deleted("real", 2)),
    )
    await wait_for_rows(db, 4)
    assert await db.fetchval("SELECT count(*) FROM events WHERE document_id = 'ghost'") == 2
    rows = await db.fetch("SELECT document_id, status FROM documents ORDER BY document_id")
    assert [(r["document_id"], r["status"]) for r in rows] == [("real", "deleted")]
    await publish_event(publisher, accepted("known", 1))
    await wait_for_rows(db, 5)
    await publish_event(publisher, deleted("known", 2))  # a later batch: the row exists
    await wait_for_rows(db, 6)
    assert (await status(db, "known"))["status"] == "deleted"
