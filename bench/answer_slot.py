"""The report's slot for the answer-streaming benchmark (``bench/answer_streaming.py``).

That module is written apart from this harness. When it exists, its ``run`` is called
as ``run(quick=...)`` (a coroutine function or a plain one) and must return report rows:
:class:`bench.report.Row` objects, or mappings that :meth:`Row.from_mapping` reads
(``measure``, ``value``, ``unit``, ``limit``, ``limit_label``, ``note``, ``target``).
Without it the slot is one "not run" row.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Mapping
from typing import Any

from bench.report import Row, not_run

SECTION = "6 answer streaming"
MODULE = "bench.answer_streaming"


def to_rows(results: Any) -> list[Row]:
    """Rows from what the module returned (rows or mappings).

    Raises:
        TypeError: an item is neither a :class:`Row` nor a mapping.
    """
    found: list[Row] = []
    for item in results:
        if isinstance(item, Row):
            found.append(item)
        elif isinstance(item, Mapping):
            found.append(Row.from_mapping(SECTION, item))
        else:
            raise TypeError(f"{MODULE}.run returned a {type(item).__name__}, not a row")
    return found


async def run(quick: bool) -> list[Row]:
    """Run ``bench.answer_streaming`` if it exists; else the "not run" row."""
    if importlib.util.find_spec(MODULE) is None:
        return [not_run(SECTION, "time to first token overhead", f"{MODULE} not present")]
    module = importlib.import_module(MODULE)
    runner = getattr(module, "run", None)
    if runner is None:
        return [not_run(SECTION, "time to first token overhead", f"{MODULE} has no run()")]
    results = runner(quick=quick)
    if inspect.isawaitable(results):
        results = await results
    return to_rows(results)
