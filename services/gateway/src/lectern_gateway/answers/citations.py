"""Citation markers in a stream of text deltas (pure, no I/O).

Out-of-range ``[n]`` markers are removed as the text flows: :class:`CitationFilter` holds
back at most a few characters after a ``[`` until it knows whether they form a marker.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[(\d{1,3})\]")
_OPEN_MARKER = re.compile(r"\[\d{0,3}$")


class CitationFilter:
    """Removes ``[n]`` markers that name no chunk from a stream of text deltas.

    Args:
        hit_count: how many chunks the prompt numbered.
    """

    def __init__(self, hit_count: int) -> None:
        self.hit_count = hit_count
        self.cited: set[int] = set()
        self.dropped = 0
        self.text = ""
        self._pending = ""

    def feed(self, delta: str) -> str:
        """Take a delta; return the text that can be sent now (maybe empty)."""
        buffered = self._pending + delta
        hold = _OPEN_MARKER.search(buffered)
        ready, self._pending = (
            (buffered[: hold.start()], buffered[hold.start() :]) if hold else (buffered, "")
        )
        return self._clean(ready)

    def flush(self) -> str:
        """The held-back rest at the end of the stream."""
        rest, self._pending = self._pending, ""
        return self._clean(rest)

    def _clean(self, text: str) -> str:
        def keep(match: re.Match[str]) -> str:
            number = int(match.group(1))
            if 1 <= number <= self.hit_count:
                self.cited.add(number)
                return match.group(0)
            self.dropped += 1
            return ""

        cleaned = _MARKER.sub(keep, text)
        self.text += cleaned
        return cleaned
