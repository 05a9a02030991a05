from __future__ import annotations

import json
from uuid import uuid4

import pytest

from lectern.contracts import DocumentAccepted, SearchCompleted
from lectern_session_logger.errors import InvalidEventError
from lectern_session_logger.events import parse_event


def test_known_event_becomes_a_row_with_envelope_columns():
    event = DocumentAccepted(
        document_id="doc-1",
        version="v",
        title="T",
        format="markdown",
        size_bytes=3,
        correlation_id="req-1",
        session_id="s",
    )
    row = parse_event(event.model_dump_json().encode())
    assert row.event_id == event.event_id
    assert row.occurred_at == event.occurred_at
    assert row.event_type == "document.accepted"
    assert (row.correlation_id, row.session_id, row.document_id) == ("req-1", "s", "doc-1")
    payload = json.loads(row.payload)
    assert payload["title"] == "T"
    assert "event_id" not in payload
    assert "occurred_at" not in payload


def test_unknown_event_type_is_accepted_generically():
    body = {
        "event_id": str(uuid4()),
        "occurred_at": "2025-01-01T00:00:00+00:00",
        "event_type": "feedback.given",
        "document_id": 7,
        "x": [1, 2],
    }
    row = parse_event(json.dumps(body).encode())
    assert row.document_id is None  # not a string
    assert json.loads(row.payload) == {"document_id": 7, "x": [1, 2]}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"event_type": "x"}',
        b'{"event_id": "00000000-0000-0000-0000-000000000001", "event_type": "x",'
        b' "occurred_at": "2025-01-01T00:00:00"}',  # naive time
        b'{"event_id": "00000000-0000-0000-0000-000000000001", "event_type": "x",'
        b' "occurred_at": "2025-01-01T00:00:00Z", "v": NaN}',
        b'{"event_id": "00000000-0000-0000-0000-000000000001", "event_type": "x",'
        b' "occurred_at": "2025-01-01T00:00:00Z", "v": "a\\u0000b"}',
        b"\xff\xfe",
    ],
)
def test_invalid_bodies_raise(body: bytes):
    with pytest.raises(InvalidEventError):
        parse_event(body)


def test_known_type_failing_its_model_raises():
    body = SearchCompleted(
        query="q", mode="hybrid", top_k=5, hit_count=1, latency_ms=1.0
    ).model_dump(mode="json")
    body["hit_count"] = "lots"
    with pytest.raises(InvalidEventError):
        parse_event(json.dumps(body).encode())


def test_known_type_at_another_schema_version_is_stored_generically():
    body = SearchCompleted(
        query="q", mode="hybrid", top_k=5, hit_count=1, latency_ms=1.0
    ).model_dump(mode="json")
    body["schema_version"] = 2
    body["hit_count"] = "lots"
    assert parse_event(json.dumps(body).encode()).schema_version == 2


def test_oversized_body_raises():
    with pytest.raises(InvalidEventError):
        parse_event(b" " * (1024 * 1024 + 1))
