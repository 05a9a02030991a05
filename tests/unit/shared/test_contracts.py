from __future__ import annotations

import hashlib
import itertools
import random
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from pydantic import ValidationError

from lectern.contracts import (
    EVENT_TYPES,
    DeleteDocument,
    DocumentDeleted,
    DocumentIndexed,
    EventEnvelope,
    IngestDocument,
    SearchRequest,
    content_version,
    normalise_content,
    order_key,
)


def test_version_is_sha256_of_normalised_content():
    assert content_version("abc") == hashlib.sha256(b"abc").hexdigest()
    assert content_version("a  \r\nb\r\n\n") == content_version("a\nb")
    assert content_version("Cafe\u0301") == content_version("Caf\u00e9")
    assert content_version("a\nb") != content_version("a\n\nb")


def test_normalise_strips_trailing_space_only():
    assert normalise_content("  x  \n  y\t\n") == "x\n  y"


def test_every_message_carries_the_envelope():
    event = DocumentIndexed(document_id="d", version="v" * 64, chunk_count=3)
    assert event.event_type == "document.indexed"
    assert event.occurred_at.tzinfo is not None
    assert event.schema_version == 1
    other = DocumentIndexed(document_id="d", version="v" * 64, chunk_count=3)
    assert event.event_id != other.event_id


def test_naive_datetimes_are_refused():
    with pytest.raises(ValidationError):
        DocumentIndexed(
            document_id="d", version="v", chunk_count=1, occurred_at=datetime(2026, 1, 1)
        )


def test_round_trip_through_json_keeps_identity():
    command = IngestDocument(
        document_id="gazebo/install.md",
        version=content_version("x"),
        title="Install",
        format="markdown",
        content="x",
        metadata={"tags": ["a", "b"], "level": 2},
        occurred_at=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
    )
    again = IngestDocument.model_validate_json(command.model_dump_json())
    assert again == command
    assert again.occurred_at.astimezone(UTC).hour == 22


@pytest.mark.parametrize("bad_id", ["", "a b", "x" * 300, "é"])
def test_document_ids_are_constrained(bad_id: str):
    with pytest.raises(ValidationError):
        IngestDocument(document_id=bad_id, version="0" * 64, title="t", format="text", content="c")


def test_unknown_format_and_fields_are_refused():
    with pytest.raises(ValidationError):
        IngestDocument.model_validate(
            {"document_id": "d", "version": "0" * 64, "title": "t", "format": "pdf", "content": "c"}
        )
    with pytest.raises(ValidationError):
        SearchRequest.model_validate({"query": "q", "surprise": 1})


@pytest.mark.parametrize("top_k", [0, 51])
def test_search_top_k_is_bounded(top_k: int):
    with pytest.raises(ValidationError):
        SearchRequest(query="q", top_k=top_k)


def test_envelope_reads_any_event_and_keeps_its_fields():
    event = DocumentIndexed(document_id="d", version="v", chunk_count=2, correlation_id="r1")
    envelope = EventEnvelope.model_validate_json(event.model_dump_json())
    assert envelope.event_id == event.event_id
    assert envelope.event_type == "document.indexed"
    assert envelope.model_extra == {
        "document_id": "d",
        "collection": "default",
        "version": "v",
        "chunk_count": 2,
        "unchanged": False,
        "superseded": False,
        "duration_ms": 0.0,
    }
    foreign = EventEnvelope.model_validate(
        {
            "event_id": str(event.event_id),
            "occurred_at": "2026-01-01T00:00:00Z",
            "event_type": "billing.charged",
            "amount": 3,
        }
    )
    assert foreign.model_extra == {"amount": 3}


def test_event_catalogue_names_routing_keys():
    assert set(EVENT_TYPES) == {
        "document.accepted",
        "document.indexed",
        "document.failed",
        "document.deleted",
        "search.completed",
        "answer.completed",
        "collection.created",
        "collection.deleted",
        "feedback.given",
    }


def _pairs(count: int) -> list[tuple[datetime, UUID]]:
    """Moments and ids drawn with a fixed seed, with deliberate ties in time."""
    rng = random.Random(8)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(microseconds=rng.randrange(10**17)) for _ in range(count // 2)]
    return [(rng.choice(moments), UUID(int=rng.getrandbits(128))) for _ in range(count)]


@pytest.mark.parametrize(("a", "b"), list(itertools.pairwise(_pairs(400))))
def test_order_keys_sort_by_time_then_event_id(a: tuple[datetime, UUID], b: tuple[datetime, UUID]):
    key_a, key_b = order_key(*a), order_key(*b)
    assert len(key_a) == len(key_b)
    assert (key_a < key_b) == ((a[0], a[1].hex) < (b[0], b[1].hex))


def test_order_key_is_the_same_in_any_time_zone():
    moment = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    command = DeleteDocument(document_id="d", occurred_at=moment)
    shifted = command.model_copy(
        update={"occurred_at": moment.astimezone(timezone(timedelta(hours=5)))}
    )
    assert command.order_key == shifted.order_key == order_key(moment, command.event_id)


def test_outcome_events_default_to_not_superseded():
    indexed = DocumentIndexed.model_validate(
        {"event_type": "document.indexed", "document_id": "d", "version": "v", "chunk_count": 1}
    )
    assert indexed.superseded is False
    assert DocumentDeleted(document_id="d", deleted_points=0).superseded is False


def test_messages_without_a_collection_belong_to_default():
    old = {"document_id": "d", "version": "0" * 64, "title": "t", "format": "text", "content": "c"}
    command = IngestDocument.model_validate(old)
    assert command.collection == "default"
    assert command.document_key == "d"
    scoped = IngestDocument.model_validate({**old, "collection": "team-a"})
    assert scoped.document_key == "team-a|d"
    assert (
        DocumentIndexed.model_validate(
            {"document_id": "d", "version": "v", "chunk_count": 1}
        ).collection
        == "default"
    )


@pytest.mark.parametrize("name", ["", "A", "-x", "x" * 64, "a b", "a/b", "*"])
def test_collection_names_follow_the_pattern(name: str):
    with pytest.raises(ValidationError):
        IngestDocument(
            document_id="d",
            version="0" * 64,
            title="t",
            format="text",
            content="c",
            collection=name,
        )
