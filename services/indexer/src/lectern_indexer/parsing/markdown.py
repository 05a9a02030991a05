"""Markdown parsing with markdown-it-py (CommonMark plus tables and YAML front matter).

Walks the token stream (https://markdown-it-py.readthedocs.io/en/latest/using.html):
headings open sections, paragraphs become text blocks, lists one list block, fenced and
indented code one code block, tables one table block with a row per line. Links keep
their text (never their target), images their alt text; raw HTML, inline or in blocks,
keeps only its visible text: ``<script>``, ``<style>``, ``<iframe>`` and the other
elements the HTML parser drops hide their content across tokens
(:mod:`~lectern_indexer.parsing.inline_html`).
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from lectern.contracts import MetadataValue
from lectern_indexer.parsing.front_matter import front_matter_metadata
from lectern_indexer.parsing.html import html_fragment_text
from lectern_indexer.parsing.inline_html import HiddenHtml, unsafe_link
from lectern_indexer.parsing.model import ParsedDocument, SectionBuilder, has_visible_text

_MARKDOWN = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
# Parse every link, whatever its scheme: a refused ``[text](javascript:...)`` would stay
# verbatim in the text. The walker never reads a target, and drops unsafe autolinks.
_MARKDOWN.validateLink = lambda url: True  # type: ignore[method-assign]
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


def inline_text(token: Token, html: HiddenHtml | None = None) -> str:
    """Render an ``inline`` token as plain text: link text, image alt, code in backticks.

    Args:
        token: an ``inline`` token of markdown-it.
        html: the walk's raw-HTML state; text inside hidden elements is left out.

    Returns:
        The visible text; never a link target, nor the text of an autolink whose
        target is unsafe (``javascript:``...).
    """
    html = html or HiddenHtml()
    parts: list[str] = []
    in_unsafe_autolink = False
    for child in token.children or []:
        if child.type == "html_inline":
            html.visible(child.content)
        elif child.type == "link_open":
            href = str(child.attrGet("href") or "")
            in_unsafe_autolink = child.markup == "autolink" and unsafe_link(href)
        elif child.type == "link_close":
            in_unsafe_autolink = False
        elif html.active or in_unsafe_autolink:
            continue
        elif child.type == "text":
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
        self._html = HiddenHtml()

    def walk(self, tokens: list[Token]) -> None:
        for index, token in enumerate(tokens):
            self._token(token, tokens[index + 1] if index + 1 < len(tokens) else None)

    def _token(self, token: Token, following: Token | None) -> None:
        kind = token.type
        if kind == "front_matter":
            self.metadata = front_matter_metadata(token.content)
        elif kind == "heading_open" and following is not None:
            self._flush_list()
            self.builder.heading(int(token.tag[1:]), inline_text(following, self._html))
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
            if any(has_visible_text(cell) for cell in self._row):
                self._table.append("| " + " | ".join(self._row) + " |")
            self._row = None
        elif kind == "table_close" and self._table is not None:
            self.builder.add("table", "\n".join(self._table))
            self._table = None
        elif kind == "inline":
            self._inline(token)
        elif kind in {"fence", "code_block"} and not self._html.active:
            self._flush_list()
            self.builder.add("code", f"```{token.info.strip()}\n{token.content.rstrip()}\n```")
        elif kind == "html_block":
            self.builder.add("text", html_fragment_text(self._html.visible(token.content)))

    def _inline(self, token: Token) -> None:
        if self._in_heading:
            return
        text = inline_text(token, self._html)
        if self._row is not None:
            self._row.append(text.replace("\n", " ").strip())
        elif self._list_stack:
            if has_visible_text(text):
                self._list_item_text(text)
        else:
            self.builder.add("text", text)

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
