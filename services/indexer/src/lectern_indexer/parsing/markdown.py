"""Markdown parsing with markdown-it-py (CommonMark plus tables and YAML front matter).

Walks the token stream (https://markdown-it-py.readthedocs.io/en/latest/using.html):
headings open sections, paragraphs become text blocks, lists one list block, fenced and
indented code one code block, tables one table block with a row per line. Links keep
their text, images their alt text; raw HTML blocks keep only their visible text.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import yaml  # type: ignore[import-untyped]
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from lectern.contracts import MetadataValue
from lectern_indexer.parsing.html import html_fragment_text
from lectern_indexer.parsing.model import ParsedDocument, SectionBuilder

_MARKDOWN = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
_ATTRIBUTE_LIST = re.compile(r"\{[.#][A-Za-z][\w.#= -]*\}")
"""Pandoc/kramdown attribute lists after links (``[text](url){.external}``), not content."""
_LIST_OPEN = {"bullet_list_open", "ordered_list_open"}
_LIST_CLOSE = {"bullet_list_close", "ordered_list_close"}


def parse_markdown(content: str) -> ParsedDocument:
    """Parse Markdown into sections with heading paths.

    Args:
        content: the Markdown source, already normalised (LF line ends).

    Returns:
        The parsed document; front matter scalars become ``metadata`` and its ``title``
        (or else the first heading) the document title.
    """
    tokens = _MARKDOWN.parse(content)
    walker = _Walker()
    walker.walk(tokens)
    title = walker.metadata.get("title")
    return ParsedDocument(
        sections=walker.builder.finish(),
        metadata=walker.metadata,
        title=title if isinstance(title, str) else walker.builder.first_heading,
    )


def front_matter_metadata(source: str) -> dict[str, MetadataValue]:
    """Read YAML front matter into metadata values, ignoring what cannot be stored.

    Args:
        source: the YAML text between the ``---`` fences.

    Returns:
        Top-level keys whose values are strings, numbers, booleans, dates (as ISO
        strings) or lists of scalars (as strings); invalid YAML yields ``{}``.
    """
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    metadata: dict[str, MetadataValue] = {}
    for key, value in data.items():
        converted = _metadata_value(value)
        if converted is not None and isinstance(key, str):
            metadata[key] = converted
    return metadata


def _metadata_value(value: Any) -> MetadataValue | None:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        return [str(v) for v in value]
    return None


def inline_text(token: Token) -> str:
    """Render an ``inline`` token as plain text: link text, image alt, code in backticks."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type == "text":
            parts.append(_ATTRIBUTE_LIST.sub("", child.content))
        elif child.type == "code_inline":
            parts.append(f"`{child.content}`")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


class _Walker:
    def __init__(self) -> None:
        self.builder = SectionBuilder()
        self.metadata: dict[str, MetadataValue] = {}
        self._list_lines: list[str] = []
        self._list_stack: list[int | None] = []
        self._item_started = False
        self._row: list[str] | None = None
        self._table: list[str] | None = None
        self._in_heading = False

    def walk(self, tokens: list[Token]) -> None:
        for index, token in enumerate(tokens):
            self._token(token, tokens[index + 1] if index + 1 < len(tokens) else None)

    def _token(self, token: Token, following: Token | None) -> None:
        kind = token.type
        if kind == "front_matter":
            self.metadata = front_matter_metadata(token.content)
        elif kind == "heading_open" and following is not None:
            self._flush_list()
            self.builder.heading(int(token.tag[1:]), inline_text(following))
            self._in_heading = True
        elif kind == "heading_close":
            self._in_heading = False
        elif kind in _LIST_OPEN:
            start = token.attrGet("start")
            self._list_stack.append(
                (int(start) if start is not None else 1) if kind == "ordered_list_open" else None
            )
        elif kind in _LIST_CLOSE:
            self._list_stack.pop()
            if not self._list_stack:
                self._flush_list()
        elif kind == "list_item_open":
            self._item_started = True
        elif kind == "table_open":
            self._table = []
        elif kind == "tr_open":
            self._row = []
        elif kind == "tr_close" and self._row is not None and self._table is not None:
            self._table.append("| " + " | ".join(self._row) + " |")
            self._row = None
        elif kind == "table_close" and self._table is not None:
            self.builder.add("table", "\n".join(self._table))
            self._table = None
        elif kind == "inline":
            self._inline(token)
        elif kind in {"fence", "code_block"}:
            self._flush_list()
            self.builder.add("code", f"```{token.info.strip()}\n{token.content.rstrip()}\n```")
        elif kind == "html_block":
            self.builder.add("text", html_fragment_text(token.content))

    def _inline(self, token: Token) -> None:
        if self._in_heading:
            return
        if self._row is not None:
            self._row.append(inline_text(token).replace("\n", " ").strip())
        elif self._list_stack:
            self._list_item_text(inline_text(token))
        else:
            self.builder.add("text", inline_text(token))

    def _list_item_text(self, text: str) -> None:
        indent = "  " * (len(self._list_stack) - 1)
        if self._item_started:
            counter = self._list_stack[-1]
            marker = "-" if counter is None else f"{counter}."
            if counter is not None:
                self._list_stack[-1] = counter + 1
            self._list_lines.append(f"{indent}{marker} {text}")
            self._item_started = False
        else:
            self._list_lines.append(f"{indent}  {text}")

    def _flush_list(self) -> None:
        if self._list_lines:
            self.builder.add("list", "\n".join(self._list_lines))
        self._list_lines = []
