"""Structure-aware chunking within the embedding model's token budget.

Each chunk is one section (or a run of whole blocks of one section) whose embedded text,
``title + heading path + section text``, fits ``max_tokens`` word pieces including the
model's special tokens (``[CLS]`` and ``[SEP]``). Blocks are packed whole; a block that
alone exceeds the budget is split at line breaks (code, lists, tables: never inside a
row), then at sentence ends, then between words, and a single over-long word between
word pieces. A code block is split only when it alone exceeds the budget (a chunk the
model truncates would lose its end silently): at line breaks, each part fenced again
with the block's language and the parts after the first marked ``(continued)``.
Counts come from the model's own tokenizer (``tokenizer.json``), so a chunk is never
truncated by the model: all-MiniLM-L6-v2 reads at most 256 word pieces
(sentence-transformers ``max_seq_length``).

Token counts add up exactly because BERT's pre-tokenizer splits on white space and
punctuation: pieces joined by white space encode to the sum of their own counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from lectern_indexer.parsing import Block, ParsedDocument

DENSE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
FENCE = "```"
CONTINUED = "(continued)"
"""Marks the parts after the first of a fenced code block split to fit the budget."""
_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")


@dataclass(frozen=True)
class Chunk:
    """One unit of retrieval.

    Attributes:
        index: 0-based position in the document.
        heading_path: headings above the chunk's section, outermost first.
        text: the section text the chunk holds (what search results show).
        embed_text: the text the model embeds: title, heading path, then ``text``.
        token_count: word pieces of ``embed_text`` including special tokens.
    """

    index: int
    heading_path: tuple[str, ...]
    text: str
    embed_text: str
    token_count: int


class WordPieceCounter:
    """Counts word pieces with the embedding model's own tokenizer.

    Args:
        tokenizer: a Hugging Face ``tokenizers`` tokenizer; truncation and padding are
            switched off on it.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.special_tokens: int = tokenizer.num_special_tokens_to_add(False)

    @classmethod
    def from_model_path(cls, model_path: Path | None) -> WordPieceCounter:
        """Load ``<model_path>/tokenizer.json``, or the hub copy when no path is given."""
        if model_path is None:
            return cls(Tokenizer.from_pretrained(DENSE_MODEL_NAME))
        return cls(Tokenizer.from_file(str(model_path / "tokenizer.json")))

    def count(self, text: str) -> int:
        """Word pieces in ``text`` without special tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text without special tokens (one batched call)."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def split_by_pieces(self, text: str, budget: int) -> list[str]:
        """Cut ``text`` into spans of at most ``budget`` word pieces, at piece offsets."""
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        spans = []
        for start in range(0, len(offsets), budget):
            window = offsets[start : start + budget]
            spans.append(text[window[0][0] : window[-1][1]])
        return [s for s in spans if s.strip()]


def chunk_header(title: str, heading_path: Sequence[str]) -> str:
    """Build the context line(s) embedded before a chunk's text.

    Args:
        title: the document title.
        heading_path: the section's headings; a first heading equal to the title is
            not repeated.

    Returns:
        ``"<title>"``, or the title and ``"<h1> > <h2> > ..."`` on two lines.
    """
    path = list(heading_path)
    if path and path[0].strip().casefold() == title.strip().casefold():
        path = path[1:]
    return f"{title}\n{' > '.join(path)}" if path else title


class Chunker:
    """Turns a parsed document into chunks that fit the model's token budget.

    Args:
        counter: the model's word-piece counter.
        max_tokens: budget per embedded text including special tokens (256 for
            all-MiniLM-L6-v2).
    """

    def __init__(self, counter: WordPieceCounter, max_tokens: int = 256) -> None:
        self.counter = counter
        self.max_tokens = max_tokens

    def chunk(self, title: str, document: ParsedDocument) -> list[Chunk]:
        """Chunk every section of ``document`` in order.

        Args:
            title: the document title, embedded at the head of every chunk unless the
                chunk's text already starts with it.
            document: the parsed document.

        Returns:
            Chunks numbered from 0; empty when the document holds no text.
        """
        chunks: list[Chunk] = []
        for section in document.sections:
            header = self._fit_header(chunk_header(title, section.heading_path))
            header_tokens = self.counter.count(header)
            budget = self.max_tokens - self.counter.special_tokens - header_tokens
            for body, tokens in self._pack(section.blocks, budget):
                if header == title and body.casefold().startswith(title.strip().casefold()):
                    # The text already opens with the title (e.g. "title\ntext" documents).
                    embed_text, used = body, tokens
                else:
                    embed_text, used = f"{header}\n\n{body}", tokens + header_tokens
                chunks.append(
                    Chunk(
                        index=len(chunks),
                        heading_path=section.heading_path,
                        text=body,
                        embed_text=embed_text,
                        token_count=used + self.counter.special_tokens,
                    )
                )
        return chunks

    def _fit_header(self, header: str) -> str:
        """Shorten a header that would take more than half of the budget."""
        limit = self.max_tokens // 2
        if self.counter.count(header) <= limit:
            return header
        return self.counter.split_by_pieces(header.replace("\n", " > "), limit)[0]

    def _pack(self, blocks: Sequence[Block], budget: int) -> Iterator[tuple[str, int]]:
        """Greedily join whole pieces while they fit; yield ``(text, word pieces)``."""
        current: list[str] = []
        used = 0
        for piece, tokens in self._pieces(blocks, budget):
            if current and used + tokens > budget:
                yield "\n\n".join(current), used
                current, used = [], 0
            current.append(piece)
            used += tokens
        if current:
            yield "\n\n".join(current), used

    def _pieces(self, blocks: Sequence[Block], budget: int) -> Iterator[tuple[str, int]]:
        counts = self.counter.count_many([b.text for b in blocks])
        for block, tokens in zip(blocks, counts, strict=True):
            if tokens <= budget:
                yield block.text, tokens
            elif block.kind == "code" and block.text.startswith(FENCE):
                yield from self._split_fenced(block.text, budget)
            else:
                separator = r"\n" if block.kind in ("code", "table", "list") else None
                yield from self._split(block.text, budget, separator)

    def _split_fenced(self, code: str, budget: int) -> Iterator[tuple[str, int]]:
        """Split an over-long fenced code block at line breaks into fenced parts.

        Every part opens with the block's fence and language, parts after the first
        with ``(continued)`` after the language, and closes with a fence, so each
        chunk still reads as code of that language.
        """
        lines = code.split("\n")
        opening = lines[0]
        body = lines[1:-1] if len(lines) > 1 and lines[-1].startswith(FENCE) else lines[1:]
        continued = f"{opening} {CONTINUED}"
        overhead = self.counter.count(f"{continued}\n{FENCE}")
        if overhead * 2 > budget:  # an absurd info string: split as plain lines
            yield from self._split(code, budget, r"\n")
            return
        parts = list(self._split("\n".join(body), budget - overhead, r"\n"))
        for number, (part, _) in enumerate(parts):
            text = f"{opening if number == 0 else continued}\n{part}\n{FENCE}"
            yield text, self.counter.count(text)

    def _split(self, text: str, budget: int, separator: str | None) -> Iterator[tuple[str, int]]:
        """Split an over-long block at lines, then sentences, then words, then pieces."""
        if separator == r"\n":
            parts, joiner, next_separator = text.split("\n"), "\n", "sentence"
        elif separator in (None, "sentence"):
            parts, joiner, next_separator = _SENTENCE_END.split(text), " ", "word"
        else:
            parts, joiner, next_separator = text.split(" "), " ", "piece"
        yield from self._group([p for p in parts if p.strip()], joiner, budget, next_separator)

    def _group(
        self, parts: list[str], joiner: str, budget: int, next_separator: str
    ) -> Iterator[tuple[str, int]]:
        current: list[str] = []
        used = 0
        for part, tokens in zip(parts, self.counter.count_many(parts), strict=True):
            if tokens > budget:
                if current:
                    yield joiner.join(current), used
                    current, used = [], 0
                if next_separator == "piece":
                    for span in self.counter.split_by_pieces(part, budget):
                        yield span, self.counter.count(span)
                else:
                    yield from self._split(part, budget, next_separator)
                continue
            if current and used + tokens > budget:
                yield joiner.join(current), used
                current, used = [], 0
            current.append(part)
            used += tokens
        if current:
            yield joiner.join(current), used
