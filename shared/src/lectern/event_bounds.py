r"""Keep any event storable: escape NUL characters, bound oversized fields.

Postgres ``text`` and ``jsonb`` cannot hold U+0000, and an event body is kept under
:data:`MAX_EVENT_BYTES` (the event log's row budget, well under RabbitMQ's frame and
message limits). Rather than refuse such an event, both are fixed here, in one place
used by publishers (:func:`lectern.broker.publish_event`) and by the session-logger on
read, so the event is neither refused by the broker nor lost by the log.

NUL escaping (reversible; :func:`unescape_nul` undoes it): in an event that holds a
U+0000 anywhere, every string (values and object keys) has each backslash doubled and
each U+0000 replaced by the two characters ``\0``, and the event gets
``"nul_escaped": true``. Events without NUL are left alone.

Bounding: when the serialised event exceeds the budget, the longest strings are cut to
a common excerpt length (a UTF-8 prefix, "water-filling": the largest length that fits),
then, if that is not enough, the longest lists are cut to a prefix. The event gets
``"truncated": true`` and ``"truncated_fields"``: JSON Pointer (RFC 6901) of each cut
value → its original size in bytes (UTF-8 of a string, serialised JSON of a list).
"""

from __future__ import annotations

import json
from typing import Any

MAX_EVENT_BYTES = 1024 * 1024
"""Largest serialised event (1 MiB) that is published and stored as is."""

MIN_EXCERPT_BYTES = 256
"""Shortest excerpt a cut string keeps, in UTF-8 bytes."""

NUL_FLAG = "nul_escaped"
TRUNCATED_FLAG = "truncated"
TRUNCATED_FIELDS = "truncated_fields"

MARKER_RESERVE_BYTES = 4096
"""Room kept for the ``truncated_fields`` map when choosing the excerpt length."""


class EventTooLargeError(ValueError):
    """The event cannot be bounded (its structure alone exceeds the budget)."""


def json_size(value: Any) -> int:
    """Bytes of ``value`` serialised as compact UTF-8 JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def has_nul(value: Any) -> bool:
    """Whether any string (value or key) inside ``value`` holds U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def _map_strings(value: Any, change: Any) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(k): _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\x00", "\\0")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append("\x00" if text[i + 1] == "0" else text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def escape_nul(event: dict[str, Any]) -> dict[str, Any]:
    """Return ``event`` with NUL escaped and ``nul_escaped: true``, or as is without NUL."""
    if not has_nul(event):
        return event
    escaped: dict[str, Any] = _map_strings(event, _escape)
    escaped[NUL_FLAG] = True
    return escaped


def unescape_nul(event: dict[str, Any]) -> dict[str, Any]:
    """Undo :func:`escape_nul` (an event without ``nul_escaped: true`` is returned as is)."""
    if event.get(NUL_FLAG) is not True:
        return event
    original: dict[str, Any] = _map_strings(
        {k: v for k, v in event.items() if k != NUL_FLAG}, _unescape
    )
    return original


def _pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _string_size(text: str) -> int:
    """Serialised size of ``text``; short strings are estimated (at most 6 bytes a char)."""
    return 6 * len(text) + 2 if len(text) < 64 else json_size(text)


def _string_sizes(value: Any, out: list[int]) -> None:
    if isinstance(value, str):
        out.append(_string_size(value))
    elif isinstance(value, dict):
        for item in value.values():
            _string_sizes(item, out)
    elif isinstance(value, list):
        for item in value:
            _string_sizes(item, out)


def _cut(value: Any, path: tuple[str, ...], limit: int, lists: bool, cut: dict[str, int]) -> Any:
    """Copy of ``value`` with strings over ``limit`` bytes (or lists over ``limit`` items) cut."""
    if isinstance(value, str):
        if lists or 6 * len(value) + 2 <= limit or json_size(value) <= limit:
            return value
        cut[_pointer(path)] = len(value.encode())
        return value.encode()[: max(0, limit - 2)].decode("utf-8", errors="ignore")
    if isinstance(value, dict):
        return {k: _cut(v, (*path, k), limit, lists, cut) for k, v in value.items()}
    if isinstance(value, list):
        items = value
        if lists and len(value) > limit:
            cut.setdefault(_pointer(path), json_size(value))
            items = value[:limit]
        return [_cut(v, (*path, str(n)), limit, lists, cut) for n, v in enumerate(items)]
    return value


def _longest_list(value: Any) -> int:
    if isinstance(value, dict):
        return max((_longest_list(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max([len(value), *(_longest_list(v) for v in value)])
    return 0


def _excerpt_length(sizes: list[int], budget: int) -> int:
    """Largest ``c`` with ``sum(min(s, c)) <= budget`` (water-filling), at least 0."""
    ordered = sorted(sizes)
    remaining, count = budget, len(ordered)
    for n, size in enumerate(ordered):
        share = remaining // (count - n)
        if size > share:
            return max(0, share)
        remaining -= size
    return ordered[-1] if ordered else 0


def _with_marks(event: dict[str, Any], cut: dict[str, int]) -> dict[str, Any]:
    return {**event, TRUNCATED_FLAG: True, TRUNCATED_FIELDS: cut}


def _attempt(event: dict[str, Any], budget: int) -> tuple[dict[str, Any], dict[str, int]]:
    sizes: list[int] = []
    _string_sizes(event, sizes)
    fixed = json_size(event) - sum(sizes)
    length = max(MIN_EXCERPT_BYTES, _excerpt_length(sizes, budget - fixed))
    while True:  # escaping makes a cut string's JSON longer than its bytes: shrink
        cut: dict[str, int] = {}
        bounded = _cut(event, (), length, False, cut)
        if json_size(bounded) <= budget or length == MIN_EXCERPT_BYTES:
            break
        length = max(MIN_EXCERPT_BYTES, length * 9 // 10)
    keep = _longest_list(bounded)
    while json_size(bounded) > budget and keep > 0:
        keep //= 2
        bounded = _cut(bounded, (), keep, True, cut)
    return bounded, cut


def bound_event(event: dict[str, Any], max_bytes: int = MAX_EVENT_BYTES) -> dict[str, Any]:
    """Return ``event`` within ``max_bytes`` serialised, cutting its largest values.

    Args:
        event: a JSON-able event (``model_dump(mode="json")``); not modified.
        max_bytes: budget for the serialised result, in bytes.

    Returns:
        ``event`` itself if it fits, else a copy with excerpts, ``truncated: true`` and
        ``truncated_fields`` (JSON Pointer → original size in bytes).

    Raises:
        EventTooLargeError: even with every string and list cut, it does not fit.
    """
    if json_size(event) <= max_bytes:
        return event
    reserve = MARKER_RESERVE_BYTES
    while reserve < max_bytes:
        bounded, cut = _attempt(event, max_bytes - reserve)
        result = _with_marks(bounded, cut)
        if json_size(result) <= max_bytes:
            return result
        reserve *= 2
    raise EventTooLargeError(f"an event of {json_size(event)} bytes cannot be bounded")


def storable_event(event: dict[str, Any], max_bytes: int = MAX_EVENT_BYTES) -> dict[str, Any]:
    """NUL escaped (:func:`escape_nul`), then bounded (:func:`bound_event`): fit for Postgres.

    Raises:
        EventTooLargeError: see :func:`bound_event`.
    """
    return bound_event(escape_nul(event), max_bytes)
