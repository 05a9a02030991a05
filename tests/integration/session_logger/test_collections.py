"""Documents, lists and analytics per collection, over real RabbitMQ and Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from tests.integration.session_logger.conftest import rpc_after, wait_for_rows
from tests.integration.session_logger.test_reads import accepted, at, call, search

from lectern.broker import publish_event
from lectern.contracts import (
    CollectionDeleted,
    DocumentIndexed,
    DocumentIndexingFailed,
    Event,
    RpcError,
)
from lectern.reads import (
    AnalyticsSummaryRequest,
    AnalyticsSummaryResponse,
    DocumentListRequest,
    DocumentListResponse,
    DocumentStatusRequest,
    DocumentStatusResponse,
)
from lectern.rpc import RpcClient

pytestmark = pytest.mark.integration


def in_team(event: Event) -> Event:
    return event.model_copy(update={"collection": "team-a"})


EVENTS: list[Event] = [
    accepted("same", 0),  # default
    DocumentIndexed(document_id="same", version="same-v1", chunk_count=3, occurred_at=at(1)),
    in_team(accepted("same", 0)),
    in_team(DocumentIndexed(document_id="same", version="v9", chunk_count=5, occurred_at=at(1))),
    in_team(accepted("other", 0)),
    in_team(DocumentIndexingFailed(document_id="broken", reason="bad", occurred_at=at(2))),
    search("s1", "in team", 1, 10.0, 3).model_copy(update={"collections": ["team-a"]}),
    search("s1", "in default", 1, 10.0, 4).model_copy(update={"collections": ["default"]}),
    search("s1", "everywhere", 1, 10.0, 5),
]


@pytest.fixture
async def seeded(
    publisher: RabbitBroker, db: asyncpg.Connection, amqp_url: str
) -> AsyncIterator[RpcClient]:
    async with rpc_after(publisher, db, amqp_url, EVENTS) as client:
        yield client


async def test_one_id_in_two_collections_has_two_states(seeded: RpcClient):
    plain = await call(seeded, DocumentStatusRequest(document_id="same"))
    team = await call(seeded, DocumentStatusRequest(document_id="same", collection="team-a"))
    assert isinstance(plain, DocumentStatusResponse)
    assert isinstance(team, DocumentStatusResponse)
    assert (plain.document.collection, plain.document.chunk_count) == ("default", 3)
    assert (team.document.collection, team.document.chunk_count) == ("team-a", 5)
    missing = await call(seeded, DocumentStatusRequest(document_id="other"))
    assert isinstance(missing, RpcError)
    assert missing.status == 404


async def test_lists_are_per_collection_and_page_across_them(seeded: RpcClient):
    team = await call(seeded, DocumentListRequest(collections=["team-a"]))
    assert isinstance(team, DocumentListResponse)
    assert [d.document_id for d in team.documents] == ["broken", "other", "same"]
    first = await call(seeded, DocumentListRequest(limit=2))
    rest = await call(seeded, DocumentListRequest(limit=10, after=first.next_cursor))
    seen = [(d.collection, d.document_id) for d in first.documents + rest.documents]
    assert seen == [
        ("default", "same"),
        ("team-a", "broken"),
        ("team-a", "other"),
        ("team-a", "same"),
    ]


async def test_analytics_per_collection(seeded: RpcClient):
    def summary(collections: list[str] | None) -> AnalyticsSummaryRequest:
        return AnalyticsSummaryRequest(since=at(-60), until=at(60), collections=collections)

    team = await call(seeded, summary(["team-a"]))
    everything = await call(seeded, summary(None))
    assert isinstance(team, AnalyticsSummaryResponse)
    assert [q.query for q in team.top_queries] == ["in team"]
    assert [(f.collection, f.document_id) for f in team.failed_documents] == [("team-a", "broken")]
    assert everything.searches == 3
    default = await call(seeded, summary(["default"]))
    assert default.failed_documents == []
    assert default.searches == 1


async def test_a_deleted_collection_deletes_its_documents(
    seeded: RpcClient, publisher: RabbitBroker, db: asyncpg.Connection
):
    await publish_event(
        publisher, CollectionDeleted(collection="team-a", deleted_points=5, occurred_at=at(10))
    )
    await wait_for_rows(db, len(EVENTS) + 1)
    rows = await db.fetch("SELECT collection, document_id, status FROM documents ORDER BY 1, 2")
    assert [tuple(r) for r in rows] == [
        ("default", "same", "indexed"),
        ("team-a", "broken", "deleted"),
        ("team-a", "other", "deleted"),
        ("team-a", "same", "deleted"),
    ]
