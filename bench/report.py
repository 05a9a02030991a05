"""The one report of ``make bench``: rows of figures next to their limits, as Markdown.

Every benchmark module returns :class:`Row` objects; :func:`render` turns them, the
machine description and the notes into ``bench/results/latest.md``. Nothing here
measures anything, so it is unit-tested (``tests/unit/bench``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TargetKind = Literal["ratio_min", "min", "max", "max_over_limit"]


@dataclass(frozen=True)
class Target:
    """A target a figure must meet.

    Attributes:
        kind: ``ratio_min``: value / limit >= bound; ``min``: value >= bound;
            ``max``: value <= bound; ``max_over_limit``: value <= limit + bound.
        bound: the number in the target (a ratio, or the figure's unit).
    """

    kind: TargetKind
    bound: float

    def describe(self, unit: str = "") -> str:
        """The target as text, e.g. ``>= 0.85 x limit`` or ``<= limit + 5 ms``."""
        suffix = f" {unit}" if unit else ""
        return {
            "ratio_min": f">= {self.bound:g} x limit",
            "min": f">= {self.bound:g}{suffix}",
            "max": f"<= {self.bound:g}{suffix}",
            "max_over_limit": f"<= limit + {self.bound:g}{suffix}",
        }[self.kind]

    def met(self, value: float | None, limit: float | None) -> bool | None:
        """Whether ``value`` meets the target (``None`` when it cannot be judged)."""
        if value is None or (self.kind in ("ratio_min", "max_over_limit") and limit is None):
            return None
        if self.kind == "ratio_min":
            assert limit is not None
            return limit > 0 and value / limit >= self.bound
        if self.kind == "min":
            return value >= self.bound
        if self.kind == "max":
            return value <= self.bound
        assert limit is not None
        return value <= limit + self.bound


@dataclass(frozen=True)
class Row:
    """One figure of the report.

    Attributes:
        section: the benchmark, e.g. ``"1 ingest"``; rows are grouped by it in order.
        measure: what was measured, e.g. ``"gazebo-docs, chunks/s"``.
        value: Lectern's figure, or ``None`` when the benchmark did not run.
        unit: the unit of ``value`` and ``limit`` (``chunks/s``, ``ms``...).
        limit: the raw engine's figure from the same run, if any.
        limit_label: what the limit is (``fastembed in one process``...).
        target: the target, if the issue sets one.
        note: a short remark (sizes, why not run, what bounds it).
    """

    section: str
    measure: str
    value: float | None
    unit: str = ""
    limit: float | None = None
    limit_label: str = ""
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``value / limit`` when both exist and the limit is not zero."""
        if self.value is None or self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    @classmethod
    def from_mapping(cls, section: str, data: Mapping[str, Any]) -> Row:
        """Build a row from a plain mapping (modules that do not import this one).

        Keys: ``measure`` (required), ``value``, ``unit``, ``limit``, ``limit_label``,
        ``note``, and ``target`` as ``(kind, bound)``.
        """
        target = data.get("target")
        return cls(
            section=section,
            measure=str(data["measure"]),
            value=_number(data.get("value")),
            unit=str(data.get("unit", "")),
            limit=_number(data.get("limit")),
            limit_label=str(data.get("limit_label", "")),
            target=Target(target[0], float(target[1])) if target else None,
            note=str(data.get("note", "")),
        )


def not_run(section: str, measure: str, reason: str) -> Row:
    """A placeholder row for a benchmark that did not run (reason in the note)."""
    return Row(section, measure, None, note=f"not run: {reason}")


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def figure(value: float | None) -> str:
    """Format a figure with 3 significant digits (thousands separated), ``-`` for none."""
    if value is None or math.isnan(value):
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(magnitude)))
    return f"{value:.{digits}f}"


def _verdict(row: Row) -> str:
    if row.target is None:
        return ""
    met = row.target.met(row.value, row.limit)
    return {True: "met", False: "**not met**", None: "-"}[met]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Iterable[Row]) -> str:
    """The rows as one Markdown table, in the order given."""
    lines = [
        "| # | measure | Lectern | limit (same run) | ratio | target | met | note |",
        "| --- | --- | ---: | --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        unit = f" {row.unit}" if row.unit else ""
        value = f"{figure(row.value)}{unit}" if row.value is not None else "not run"
        limit = ""
        if row.limit is not None:
            limit = f"{figure(row.limit)}{unit}" + (
                f" ({row.limit_label})" if row.limit_label else ""
            )
        ratio = figure(row.ratio) if row.ratio is not None else ""
        target = row.target.describe(row.unit) if row.target else ""
        cells = [row.section, row.measure, value, limit, ratio, target, _verdict(row), row.note]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


@dataclass
class Report:
    """Everything ``latest.md`` holds."""

    title: str
    machine: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render(report: Report) -> str:
    """The report as Markdown: title, machine, the table, then the notes."""
    machine = "\n".join(f"- **{key}:** {value}" for key, value in report.machine.items())
    notes = "\n".join(f"- {note}" for note in report.notes)
    parts = [f"# {report.title}", "## Machine", machine, "## Figures", table(report.rows)]
    if notes:
        parts += ["## Notes", notes]
    return "\n\n".join(parts) + "\n"
