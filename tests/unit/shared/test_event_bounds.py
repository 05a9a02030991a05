"""NUL escaping round-trips and bounding keeps events within budget, for any input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lectern.event_bounds import (
    MIN_EXCERPT_BYTES,
    bound_event,
    escape_nul,
    has_nul,
    json_size,
    storable_event,
    unescape_nul,
)

TEXT = st.text(alphabet=st.sampled_from(["a", "é", "\x00", "\\", "0", '"', "\n", "😀"]))
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=20,
)
EVENTS = st.dictionaries(TEXT.filter(lambda k: k not in {"nul_escaped"}), JSON, max_size=6)


@settings(deadline=None)
@given(EVENTS)
def test_nul_escaping_is_reversible_and_leaves_no_nul(event: dict[str, Any]):
    escaped = escape_nul(event)
    assert not has_nul(escaped)
    assert "\\u0000" not in json.dumps(escaped)
    assert unescape_nul(escaped) == event
    assert (escaped is event) == (not has_nul(event))


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["answer", "question", "context", "ids", "nested"]),
        st.lists(st.text(min_size=0, max_size=3000), max_size=40)
        | st.text(min_size=0, max_size=20_000),
        min_size=1,
    ),
    st.integers(min_value=2_000, max_value=40_000),
)
def test_bounded_events_fit_and_say_what_was_cut(event: dict[str, Any], budget: int):
    bounded = storable_event(event, max_bytes=budget)
    assert json_size(bounded) <= budget
    if json_size(escape_nul(event)) <= budget:
        assert bounded == escape_nul(event)
        return
    assert bounded["truncated"] is True
    assert bounded["truncated_fields"]
    for pointer, size in bounded["truncated_fields"].items():
        assert pointer.startswith("/")
        assert size > 0


def test_a_huge_string_keeps_a_prefix_and_its_size():
    answer = "é" * 3_000_000
    bounded = bound_event({"answer": answer, "question": "why?"})
    assert bounded["question"] == "why?"
    assert bounded["truncated_fields"] == {"/answer": 6_000_000}
    assert answer.startswith(bounded["answer"])
    assert len(bounded["answer"].encode()) > 900_000
    assert json_size(bounded) <= 1024 * 1024


def test_many_small_items_are_cut_to_a_prefix_of_the_list():
    bounded = bound_event({"ids": [f"chunk-{n}" for n in range(300_000)]})
    assert json_size(bounded) <= 1024 * 1024
    assert bounded["ids"] == [f"chunk-{n}" for n in range(len(bounded["ids"]))]
    assert "/ids" in bounded["truncated_fields"]


def test_every_long_string_keeps_at_least_the_minimum_excerpt():
    bounded = bound_event({"context": ["x" * 5000] * 400})
    assert min(len(text) for text in bounded["context"]) >= MIN_EXCERPT_BYTES - 2
    assert len(bounded["truncated_fields"]) == 400
    assert json_size(bounded) <= 1024 * 1024
