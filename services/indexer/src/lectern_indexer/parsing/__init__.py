"""Parsers from a document's source format to :class:`ParsedDocument`."""

from __future__ import annotations

from lectern.contracts import DocumentFormat
from lectern_indexer.parsing.html import parse_html
from lectern_indexer.parsing.markdown import parse_markdown
from lectern_indexer.parsing.model import Block, ParsedDocument, Section
from lectern_indexer.parsing.text import parse_text

__all__ = ["Block", "ParsedDocument", "Section", "parse_document"]


def parse_document(content: str, document_format: DocumentFormat) -> ParsedDocument:
    """Parse ``content`` according to its format.

    Args:
        content: the document text (normalised, LF line ends).
        document_format: ``markdown``, ``html`` or ``text``.

    Returns:
        The document as sections of blocks.
    """
    if document_format == "markdown":
        return parse_markdown(content)
    if document_format == "html":
        return parse_html(content)
    return parse_text(content)
