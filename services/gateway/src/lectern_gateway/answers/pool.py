"""The numbered chunks of one answer, gathered over several searches (pure, no I/O).

An answer's ``[n]`` markers refer to one numbering shared by every search it made: the
caller's context first (``context_mode: "augment"``), then the question's retrieval, then
each agent step. A chunk keeps the number it got when first seen, so a later search that
finds it again does not renumber it, and ``[n]`` always names ``hits[n - 1]``.
"""

from __future__ import annotations

from collections.abc import Iterable

from lectern.contracts import SearchHit


class HitPool:
    """Hits numbered from 1 in order of first appearance, one number per ``chunk_id``.

    Args:
        hits: the first hits (numbered ``1..len(hits)``, duplicates merged).
    """

    def __init__(self, hits: Iterable[SearchHit] = ()) -> None:
        self.hits: list[SearchHit] = []
        self._numbers: dict[str, int] = {}
        self.add(hits)

    def __len__(self) -> int:
        return len(self.hits)

    def add(self, hits: Iterable[SearchHit]) -> list[int]:
        """Number ``hits`` (new ones get the next numbers).

        Returns:
            The 1-based number of each given hit, in the given order.
        """
        numbers = []
        for hit in hits:
            number = self._numbers.get(hit.chunk_id)
            if number is None:
                self.hits.append(hit)
                number = self._numbers[hit.chunk_id] = len(self.hits)
            numbers.append(number)
        return numbers

    def cited(self, numbers: Iterable[int]) -> list[SearchHit]:
        """The hits of valid ``[n]`` numbers, in the given order (others skipped)."""
        return [self.hits[n - 1] for n in numbers if 1 <= n <= len(self.hits)]


def chunk_blocks(numbered: Iterable[tuple[int, SearchHit]]) -> str:
    """Chunks as the prompt shows them: ``[n] title (heading path)`` and the text.

    Args:
        numbered: ``(number, hit)`` pairs.

    Returns:
        The blocks separated by blank lines, or ``(no chunks)``.
    """
    blocks = []
    for number, hit in numbered:
        where = " > ".join(hit.heading_path)
        heading = f"{hit.title} ({where})" if where else hit.title
        blocks.append(f"[{number}] {heading}\n{hit.text}")
    return "\n\n".join(blocks) or "(no chunks)"
