"""The benchmark report writer: targets, figures and the Markdown table."""

from __future__ import annotations

import math

import pytest
from bench.report import Report, Row, Target, figure, not_run, render, table
from hypothesis import given
from hypothesis import strategies as st

positive = st.floats(min_value=1e-3, max_value=1e9, allow_nan=False)


@given(value=positive, limit=positive, bound=st.floats(min_value=0.01, max_value=10))
def test_ratio_target_compares_value_over_limit(value: float, limit: float, bound: float) -> None:
    assert Target("ratio_min", bound).met(value, limit) == (value / limit >= bound)


@given(value=positive, limit=positive, bound=st.floats(min_value=0, max_value=100))
def test_over_limit_target_allows_the_margin(value: float, limit: float, bound: float) -> None:
    assert Target("max_over_limit", bound).met(value, limit) == (value <= limit + bound)


def test_min_and_max_targets() -> None:
    assert Target("max", 100).met(99.9, None) is True
    assert Target("max", 100).met(100.1, None) is False
    assert Target("min", 0.72).met(0.7232, None) is True
    assert Target("min", 0.72).met(0.71, None) is False


def test_a_target_without_its_figures_is_not_judged() -> None:
    assert Target("ratio_min", 0.85).met(None, 10) is None
    assert Target("ratio_min", 0.85).met(10, None) is None
    assert Target("max", 1).met(None, None) is None


def test_zero_limit_fails_a_ratio_target() -> None:
    assert Target("ratio_min", 0.8).met(5, 0) is False


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "0"),
        (12345.6, "12,346"),
        (999.4, "999"),
        (12.345, "12.3"),
        (1.2345, "1.23"),
        (0.72321, "0.723"),
        (0.0012345, "0.00123"),
        (-3.5, "-3.50"),
        (math.nan, "-"),
    ],
)
def test_figures_keep_three_significant_digits(value: float | None, text: str) -> None:
    assert figure(value) == text


def test_a_row_shows_its_limit_ratio_target_and_verdict() -> None:
    row = Row(
        "1 ingest",
        "gazebo-docs: chunks/s",
        17.0,
        "chunks/s",
        20.0,
        "fastembed",
        Target("ratio_min", 0.85),
        "60 docs",
    )
    line = table([row]).splitlines()[2]
    assert line == (
        "| 1 ingest | gazebo-docs: chunks/s | 17.0 chunks/s | 20.0 chunks/s (fastembed) "
        "| 0.850 | >= 0.85 x limit | met | 60 docs |"
    )


def test_a_missed_target_is_marked_and_a_missing_figure_is_not_run() -> None:
    missed = Row("2 search", "c=32: p99", 140.0, "ms", target=Target("max", 100))
    lines = table([missed, not_run("6 answers", "TTFT", "module absent")]).splitlines()
    assert "| <= 100 ms | **not met** |" in lines[2]
    assert lines[3] == "| 6 answers | TTFT | not run |  |  |  |  | not run: module absent |"


def test_cells_escape_the_table_separator() -> None:
    row = Row("8", "a|b", 1.0, note="x | y\nz")
    assert "a\\|b" in table([row])
    assert "x \\| y z" in table([row])


def test_row_from_a_mapping() -> None:
    row = Row.from_mapping(
        "6 answers",
        {"measure": "TTFT overhead", "value": 3, "unit": "ms", "limit": 1, "target": ("max", 5)},
    )
    assert row == Row("6 answers", "TTFT overhead", 3.0, "ms", 1.0, target=Target("max", 5.0))
    assert row.ratio == 3.0


def test_render_has_machine_table_and_notes_in_order() -> None:
    text = render(
        Report("Lectern benchmarks", {"cores": "2"}, [Row("4", "RSS", 10.0, "MiB")], ["quick"])
    )
    assert text.index("## Machine") < text.index("- **cores:** 2") < text.index("## Figures")
    assert text.index("| 4 | RSS | 10.0 MiB |") < text.index("## Notes") < text.index("- quick")
    assert text.endswith("\n")
