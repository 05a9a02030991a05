"""Raw HTML inside Markdown: hide what a browser would never show as text.

markdown-it passes raw HTML through as ``html_inline`` tokens (one per tag) and
``html_block`` tokens, and the text *between* an inline ``<script>`` and ``</script>``
arrives as ordinary ``text`` tokens. :class:`HiddenHtml` follows the tags in document
order, across tokens and blocks, and reports when the text is inside an element whose
content the HTML parser drops (:data:`~lectern_indexer.parsing.html.DROPPED_TAGS`:
``script``, ``style``, ``iframe``...). As in a browser, such an element lasts until its
own end tag, so an unclosed ``<script>`` hides the rest of the document: the safe side.

Links with an executable or inline-data target (``javascript:``, ``vbscript:``,
``data:``) keep their text; an autolink of such a target, whose text is the target
itself, is dropped (:func:`unsafe_link`).
"""

from __future__ import annotations

import re

from lectern_indexer.parsing.html import DROPPED_TAGS

VOID_ELEMENTS = frozenset({"input", "embed"})
"""Dropped elements that have no content and no end tag (HTML "void elements")."""

HIDDEN_ELEMENTS = frozenset(t.strip() for t in DROPPED_TAGS.split(",")) - VOID_ELEMENTS
"""Elements whose content never reaches the index, as in :mod:`.html`."""

UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:")
"""Link targets that run code or embed content instead of pointing at a page."""

_TAG = re.compile(
    r"<!--.*?(?:-->|\Z)|<(/?)([A-Za-z][A-Za-z0-9-]*)(?:[\s/][^>]*)?(?:>|\Z)", re.DOTALL
)
"""A comment or a tag; either may be cut off by the end of the token: a start
tag whose ``>`` comes in a later block (``- <script a=1`` then `` b=2>`` on the next line,
which Markdown splits into two blocks) still opens its element, as a browser reads it."""
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]+")


def unsafe_link(href: str) -> bool:
    """Whether a link target uses a scheme of :data:`UNSAFE_SCHEMES`.

    Browsers ignore ASCII white space and control characters inside a scheme
    (WHATWG URL standard), so ``java<TAB>script:`` counts too.
    """
    return _CONTROL_OR_SPACE.sub("", href).lower().startswith(UNSAFE_SCHEMES)


class HiddenHtml:
    """Tracks whether the Markdown being walked is inside a hidden HTML element."""

    def __init__(self) -> None:
        self.hidden: str | None = None

    @property
    def active(self) -> bool:
        """Whether text seen now is inside a hidden element."""
        return self.hidden is not None

    def visible(self, html: str) -> str:
        """Return ``html`` without hidden elements and their content, following state.

        Args:
            html: raw HTML (an ``html_inline`` tag or an ``html_block``).

        Returns:
            The parts of ``html`` outside hidden elements (tags kept, for the HTML
            parser); the state carries over to the next call.
        """
        parts: list[str] = []
        position = 0
        for match in _TAG.finditer(html):
            if not self.active:
                parts.append(html[position : match.start()])
            position = match.end()
            closing, name = match.group(1), (match.group(2) or "").lower()
            if self.hidden is not None:
                if closing and name == self.hidden:
                    self.hidden = None
            elif name in HIDDEN_ELEMENTS and not closing and not match.group(0).endswith("/>"):
                self.hidden = name
            elif not (closing and name in HIDDEN_ELEMENTS):
                parts.append(match.group(0))
        if not self.active:
            parts.append(html[position:])
        return "".join(parts)
