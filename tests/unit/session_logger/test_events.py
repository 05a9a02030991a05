from __future__ import annotations

import json
from uuid import uuid4

import pytest

from lectern.contracts import AnswerCompleted, DocumentAccepted, SearchCompleted
from lectern.event_bounds import MAX_EVENT_BYTES, unescape_nul
from lectern_session_logger import events
from lectern_session_logger.errors import InvalidEventError
from lectern_session_logger.events import MAX_BODY_BYTES, parse_event


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
        "event_type": "support.ticket.closed",
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


def test_body_over_the_read_limit_raises():
    with pytest.raises(InvalidEventError, match="exceeds"):
        parse_event(b" " * (MAX_BODY_BYTES + 1))


def test_nul_characters_are_escaped_reversibly():
    event = SearchCompleted(
        query="a\x00b\\0", mode="hybrid", top_k=5, hit_count=1, latency_ms=1.0, session_id="s\x00"
    )
    row = parse_event(event.model_dump_json().encode())
    payload = json.loads(row.payload)
    assert "\x00" not in row.payload
    assert payload["nul_escaped"] is True
    assert payload["query"] == "a\\0b\\\\0"
    assert row.session_id == "s\\0"
    assert unescape_nul(payload)["query"] == event.query


def test_an_oversized_event_is_stored_with_a_bounded_excerpt():
    event = AnswerCompleted(question="q", answer="word " * 1_000_000, latency_ms=5.0)
    row = parse_event(event.model_dump_json().encode())
    payload = json.loads(row.payload)
    assert len(row.payload.encode()) <= MAX_EVENT_BYTES
    assert payload["truncated"] is True
    assert payload["truncated_fields"] == {"/answer": 5_000_000}
    assert event.answer.startswith(payload["answer"])
    assert len(payload["answer"]) > MAX_EVENT_BYTES // 2
    assert payload["question"] == "q"


def test_a_known_event_is_validated_by_its_model_alone(monkeypatch: pytest.MonkeyPatch):
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the envelope was validated too")

    monkeypatch.setattr(events.EventEnvelope, "model_validate", refuse)
    event = SearchCompleted(query="q", mode="hybrid", top_k=5, hit_count=1, latency_ms=1.0)
    row = parse_event(event.model_dump_json().encode())
    assert (row.event_id, row.occurred_at) == (event.event_id, event.occurred_at)


@pytest.mark.parametrize("missing", ["event_id", "occurred_at"])
def test_a_known_event_without_an_envelope_field_raises(missing: str):
    body = SearchCompleted(
        query="q", mode="hybrid", top_k=5, hit_count=1, latency_ms=1.0
    ).model_dump(mode="json")
    del body[missing]  # the model would fill it in; the envelope requires it
    with pytest.raises(InvalidEventError):
        parse_event(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\ufeff", None),  # a UTF-8 byte order mark: json.loads reads it, from_json not
        ('"\\ud800 lone"', "\ud800 lone"),  # Postgres refuses it later, isolating it
        ("1e400", float("inf")),  # written back as Infinity, which Postgres refuses
    ],
)
def test_values_the_fast_path_cannot_take_are_read_as_json_reads_them(text: str, expected: object):
    envelope = (
        '"event_id": "00000000-0000-0000-0000-000000000001", "event_type": "x",'
        ' "occurred_at": "2025-01-01T00:00:00Z"'
    )
    if expected is None:
        body = (text + "{" + envelope + "}").encode()
        assert json.loads(parse_event(body).payload) == {}
        return
    row = parse_event(("{" + envelope + ', "v": ' + text + "}").encode())
    assert json.loads(row.payload)["v"] == expected
