"""Checks that make an ingest command invalid for good (dead-lettered, never retried)."""

from __future__ import annotations

from lectern.contracts import IngestDocument, content_version, normalise_content
from lectern_indexer.errors import InvalidDocumentError

BINARY_CONTROL_RATIO = 0.05
"""Share of control characters (other than tab, LF, CR, FF) above which text is binary."""

_ALLOWED_CONTROLS = frozenset("\t\n\r\f")


def validate_ingest(command: IngestDocument, max_document_bytes: int) -> str:
    """Check an ingest command and return its normalised content.

    Args:
        command: the parsed command.
        max_document_bytes: largest accepted content, in UTF-8 bytes.

    Returns:
        The content after :func:`lectern.contracts.normalise_content`.

    Raises:
        InvalidDocumentError: the content is too large, not valid Unicode text (lone
            surrogates), binary (NUL bytes or many control characters), empty, or its
            sha256 differs from ``command.version``.
    """
    try:
        size = len(command.content.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidDocumentError(f"content is not valid UTF-8 text: {exc.reason}") from exc
    if size > max_document_bytes:
        raise InvalidDocumentError(
            f"content is {size} bytes, over the limit of {max_document_bytes} bytes"
        )
    if looks_binary(command.content):
        raise InvalidDocumentError("content looks binary (NUL or control characters), not text")
    normalised = normalise_content(command.content)
    if not normalised:
        raise InvalidDocumentError("content is empty")
    expected = content_version(command.content)
    if command.version != expected:
        raise InvalidDocumentError(
            f"version {command.version} does not match the content's sha256 {expected}"
        )
    return normalised


def looks_binary(text: str) -> bool:
    """Whether ``text`` holds NUL characters or over 5 % control characters.

    The heuristic of ``file(1)`` and Git: text files contain no NUL byte; decoded
    binary data (e.g. Latin-1 decoded images) is rich in C0 control characters.
    """
    if "\x00" in text:
        return True
    sample = text[:65536]
    controls = sum(1 for ch in sample if ch < " " and ch not in _ALLOWED_CONTROLS)
    return bool(sample) and controls / len(sample) > BINARY_CONTROL_RATIO
