"""The parsed form of a document: sections under headings, made of unsplittable blocks.

Every parser (Markdown, HTML, plain text) produces a :class:`ParsedDocument`; the chunker
only sees this structure, never the source format.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from lectern.contracts import MetadataValue

BlockKind = Literal["text", "list", "code", "table"]

_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")

INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Characters Unicode files as letters or symbols that render as blank space (Hangul
fillers, the blank Braille pattern): popular for faking "invisible" text."""


def has_visible_text(text: str) -> bool:
    """Whether ``text`` holds at least one character a reader can see.

    White space, control and format characters (general category ``Cf``: zero-width
    space U+200B, ZWNJ/ZWJ U+200C/U+200D, word joiner U+2060, BOM U+FEFF, soft hyphen
    U+00AD...), combining marks without a base, unassigned code points and the fillers
    of :data:`INVISIBLE_LETTERS` are not visible (Unicode general categories, UAX #44).

    Args:
        text: any text.

    Returns:
        ``True`` when some character is a letter, number, punctuation, symbol or
        private-use character other than those fillers.
    """
    return any(
        unicodedata.category(ch)[0] in "LNPS" or unicodedata.category(ch) == "Co"
        for ch in text
        if ch not in INVISIBLE_LETTERS
    )


def clean_inline(text: str) -> str:
    """Collapse runs of white space inside prose, keeping single line breaks.

    Args:
        text: prose extracted from a paragraph, list item or heading.

    Returns:
        The text with runs of spaces collapsed, lines stripped, at most one blank line
        in a row, and no leading or trailing white space.
    """
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _code_body(code: str) -> str:
    """A code block's text without its Markdown fence lines."""
    lines = code.split("\n")
    if lines and lines[0].startswith("```"):
        lines = lines[1:]
    if lines and lines[-1].startswith("```"):
        lines = lines[:-1]
    return "\n".join(lines)


def _clean_line(line: str) -> str:
    indent = len(line) - len(line.lstrip(" "))
    return " " * indent + _SPACES.sub(" ", line).strip()


@dataclass(frozen=True)
class Block:
    """A unit of content the chunker keeps whole whenever it fits the token budget.

    Attributes:
        kind: ``text`` (a paragraph), ``list``, ``code`` (a fenced or ``<pre>`` block,
            never split unless it alone exceeds the budget, then only at line breaks) or
            ``table`` (one row per line, never split inside a row).
        text: the block's plain text; code keeps its fences and indentation.
    """

    kind: BlockKind
    text: str


@dataclass(frozen=True)
class Section:
    """The content under one heading.

    Attributes:
        heading_path: headings from the outermost to this section's own, e.g.
            ``("Install", "macOS", "Homebrew")``; empty before the first heading.
        blocks: the section's blocks in document order (never empty).
    """

    heading_path: tuple[str, ...]
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class ParsedDocument:
    """A document reduced to sections of plain-text blocks.

    Attributes:
        sections: sections in document order; sections without content are omitted.
        metadata: values from Markdown front matter (scalars and lists of strings).
        title: the document's own title (front matter ``title``, ``<title>`` or the first
            top-level heading), if it has one.
    """

    sections: tuple[Section, ...]
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    title: str | None = None

    @property
    def is_empty(self) -> bool:
        """Whether no block holds any text."""
        return not any(has_visible_text(b.text) for s in self.sections for b in s.blocks)


class SectionBuilder:
    """Collects blocks under a stack of headings and emits :class:`Section` objects."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self._blocks: list[Block] = []
        self._sections: list[Section] = []
        self.first_heading: str | None = None

    def heading(self, level: int, text: str) -> None:
        """Close the current section and open one under heading ``text`` (level 1-6)."""
        self._close()
        text = clean_inline(text).replace("\n", " ")
        if not has_visible_text(text):
            return
        if self.first_heading is None:
            self.first_heading = text
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    def add(self, kind: BlockKind, text: str) -> None:
        """Append a block to the current section; blocks without visible text are ignored."""
        if kind == "code":
            text = text.strip("\n")
        elif kind == "text":
            text = clean_inline(text)
        else:
            text = "\n".join(_clean_line(line) for line in text.split("\n") if line.strip())
        if has_visible_text(_code_body(text) if kind == "code" else text):
            self._blocks.append(Block(kind, text))

    def finish(self) -> tuple[Section, ...]:
        """Close the last section and return every section with content."""
        self._close()
        return tuple(self._sections)

    def _close(self) -> None:
        if self._blocks:
            path = tuple(text for _, text in self._stack)
            self._sections.append(Section(path, tuple(self._blocks)))
        self._blocks = []
