"""HTML parsing with selectolax (Lexbor, an HTML5-conformant parser).

Only visible text reaches the index: ``script``, ``style``, navigation, headers, footers,
forms and other chrome are removed before extraction, and attributes (including ``on*``
event handlers) are never read except an image's ``alt``. ``h1``-``h6`` open sections,
``pre`` is one code block, a ``table`` one table block with one row per line.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from lectern_indexer.parsing.model import (
    BlockKind,
    ParsedDocument,
    SectionBuilder,
    has_visible_text,
)

DROPPED_TAGS = (
    "script, style, noscript, template, iframe, object, embed, svg, canvas, nav, header, "
    "footer, form, button, input, select, textarea, aside, dialog, head"
)
"""Elements whose whole subtree never reaches the index."""

DROPPED_SELECTORS = (
    '[role="navigation"], [role="search"], [role="banner"], [role="contentinfo"], '
    '[hidden], [aria-hidden="true"], a.headerlink, div.sphinxsidebar, div.related, div.footer'
)
"""Chrome recognised by ARIA role or by well-known class (Sphinx sidebars and headers)."""

MAIN_SELECTORS = ("main", '[role="main"]', "article")
"""Containers of the main content, tried in order before falling back to ``<body>``."""

_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "li", "dt", "dd", "blockquote", "ul", "ol", "dl", "figure"}
    | {"figcaption", "details", "summary", "address", "center", "hr", "body", "html"}
)
_MAX_DEPTH = 200
_WHITESPACE = re.compile(r"\s+")


def parse_html(content: str) -> ParsedDocument:
    """Parse an HTML document into sections with heading paths.

    Args:
        content: the HTML source.

    Returns:
        The parsed document; ``title`` is the ``<title>`` text or else the first heading.
    """
    tree = LexborHTMLParser(content)
    title_node = tree.css_first("title")
    page_title = title_node.text(strip=True) if title_node is not None else ""
    _remove_chrome(tree)
    root = next((n for s in MAIN_SELECTORS if (n := tree.css_first(s)) is not None), None)
    root = root or tree.body or tree.root
    walker = _Walker()
    if root is not None:
        walker.walk(root, 0)
    walker.flush()
    return ParsedDocument(
        sections=walker.builder.finish(),
        title=page_title or walker.builder.first_heading,
    )


def html_fragment_text(fragment: str) -> str:
    """Return the visible text of an HTML fragment (for raw HTML inside Markdown)."""
    tree = LexborHTMLParser(fragment)
    _remove_chrome(tree)
    root = tree.body or tree.root
    return root.text(separator=" ", strip=True) if root is not None else ""


def _remove_chrome(tree: LexborHTMLParser) -> None:
    for header in tree.css("header"):
        if _inside_content(header):
            # An article's own <header> holds its title: keep the headings, drop the rest.
            for heading in header.css("h1, h2, h3, h4, h5, h6"):
                header.insert_before(heading)
    for selector in (DROPPED_TAGS, DROPPED_SELECTORS):
        for node in tree.css(selector):
            node.decompose()


def _inside_content(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in ("article", "main"):
            return True
        parent = parent.parent
    return False


class _Walker:
    """Walks the DOM in document order, buffering inline text until a block ends."""

    def __init__(self) -> None:
        self.builder = SectionBuilder()
        self._inline: list[str] = []
        self._kind: BlockKind = "text"

    def flush(self) -> None:
        text = "".join(self._inline)
        if text.strip():
            self.builder.add(self._kind, text)
        self._inline = []

    def walk(self, node: LexborNode, depth: int) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag or ""
            if tag == "-text":
                self._inline.append(_WHITESPACE.sub(" ", child.text(deep=False) or ""))
            elif tag in _HEADINGS:
                self.flush()
                self.builder.heading(_HEADINGS[tag], child.text(separator=" ", strip=True))
            elif tag == "pre":
                self.flush()
                self.builder.add("code", child.text(deep=True))
            elif tag == "table":
                self.flush()
                self.builder.add("table", _table_text(child))
            elif tag == "br":
                self._inline.append("\n")
            elif tag == "img":
                self._inline.append(f" {child.attributes.get('alt') or ''} ")
            elif depth >= _MAX_DEPTH:
                self._inline.append(child.text(separator=" "))
            elif tag in _BLOCK_TAGS:
                self.flush()
                self.walk(child, depth + 1)
                self.flush()
            else:
                self.walk(child, depth + 1)


def _table_text(table: LexborNode) -> str:
    rows = []
    for row in table.css("tr"):
        cells = [c.text(separator=" ", strip=True) for c in row.iter() if c.tag in ("td", "th")]
        if any(has_visible_text(cell) for cell in cells):
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
