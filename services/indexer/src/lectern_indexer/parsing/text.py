"""Plain-text parsing: paragraphs separated by blank lines, one untitled section."""

from __future__ import annotations

import re

from lectern_indexer.parsing.model import ParsedDocument, SectionBuilder

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def parse_text(content: str) -> ParsedDocument:
    """Split plain text into paragraph blocks.

    Args:
        content: the document, already normalised (LF line ends).

    Returns:
        One section with an empty heading path holding each paragraph as a block.
    """
    builder = SectionBuilder()
    for paragraph in _PARAGRAPH_BREAK.split(content):
        builder.add("text", paragraph)
    return ParsedDocument(sections=builder.finish())
