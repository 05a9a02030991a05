"""Where a process's time goes: py-spy samples, folded into the ingest pipeline's stages.

:class:`PySpy` runs ``py-spy record --format raw --threads`` against a running process
(every thread, idle ones included, without pausing it); :func:`stage_shares` reads the
folded stacks it writes (``thread (<id>): <name>;frame;frame;... count`` per line,
Brendan Gregg's collapsed format) and attributes each sample to the first stage, in
:data:`STAGES` order, whose pattern occurs in its stack; :func:`thread_busy` tells how
much of the time one thread (the document-embedding worker) was working.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tests.faults.harness import VENV_BIN

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("parse", ("lectern_indexer/parsing", "markdown_it", "selectolax")),
    ("chunk", ("lectern_indexer/chunking",)),
    ("sparse (BM25)", ("fastembed/sparse",)),
    ("tokenize", ("encode_batch", "tokenize (")),
    ("dense (ONNX)", ("onnxruntime", "onnx_embed", "fastembed/")),
    ("Qdrant write", ("qdrant_edge", "stores/edge")),
    ("broker", ("aio_pika", "aiormq", "pamqp", "faststream")),
)
"""Stage -> substrings of a frame (``function (file:line)``) that mark it; first match
wins, so a stage's callees (the tokenizer under the chunker) count for the stage."""
IDLE = "idle / waiting"
IDLE_LEAVES = (
    "select (selectors",
    "wait (threading",
    "get (queue",
    "_worker (concurrent/futures/thread",
    "poll (",
    "sleep",
)
"""Innermost frames of a thread that waits: an idle event loop (``select``), an idle
worker (py-spy shows a thread blocked in C at the Python frame that called it, e.g. a
pool worker's ``_worker`` waiting on its queue)."""
OTHER = "other Python"


def stage_of(stack: str) -> str:
    """The stage of one folded stack (``;``-separated, outermost first).

    Returns:
        :data:`IDLE` when the innermost frame waits, else the first stage of
        :data:`STAGES` found in the stack, else :data:`OTHER`.
    """
    leaf = stack.rsplit(";", 1)[-1]
    if any(pattern in leaf for pattern in IDLE_LEAVES):
        return IDLE
    for stage, patterns in STAGES:
        if any(pattern in stack for pattern in patterns):
            return stage
    return OTHER


def stage_shares(folded: Iterable[str]) -> dict[str, float]:
    """Fraction of samples per stage from folded-stack lines, largest first.

    Args:
        folded: lines ``frame;frame;... <count>``; blank or malformed lines are skipped.

    Returns:
        Stage -> share of all samples (0-1), summing to 1 when any sample was read.
    """
    counts: Counter[str] = Counter()
    for line in folded:
        stack, _, count = line.strip().rpartition(" ")
        if stack and count.isdigit():
            counts[stage_of(stack)] += int(count)
    total = sum(counts.values())
    return {stage: n / total for stage, n in counts.most_common()} if total else {}


def thread_busy(folded: Iterable[str], name_prefix: str) -> float | None:
    """Share of one thread's samples that are not waiting (``--threads`` output).

    Args:
        folded: lines whose first frame is py-spy's ``thread (<id>): <name>``.
        name_prefix: the thread's name prefix, e.g. ``embed-documents`` (the indexer's
            document-embedding worker, :class:`~lectern_indexer.embedding.FastembedEmbedder`).

    Returns:
        Busy samples / all samples of the matching threads (0-1), ``None`` if none.
    """
    busy = total = 0
    for line in folded:
        stack, _, count = line.strip().rpartition(" ")
        head = stack.split(";", 1)[0]
        if not count.isdigit() or ": " not in head:
            continue
        if head.split(": ", 1)[1].startswith(name_prefix):
            total += int(count)
            busy += 0 if stage_of(stack) == IDLE else int(count)
    return busy / total if total else None


def shares_line(shares: dict[str, float]) -> str:
    """``stage 41%, stage 22%, ...`` for the report."""
    return ", ".join(f"{stage} {share:.0%}" for stage, share in shares.items()) or "no samples"


class PySpy:
    """``py-spy record`` of one process until :meth:`stop`; the folded stacks in ``output``.

    Args:
        pid: the process to sample.
        output: where py-spy writes the folded stacks.
        rate: samples per second.
    """

    def __init__(self, pid: int, output: Path, *, rate: int = 50) -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        self.output = output
        argv = [str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--format", "raw"]
        argv += ["--output", str(output), "--rate", str(rate), "--idle", "--threads"]
        argv += ["--nonblocking"]
        self._process = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> list[str]:
        """Stop sampling (SIGINT makes py-spy write its file) and return its folded lines.

        Raises:
            RuntimeError: py-spy exited without writing its output.
        """
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        _, errors = self._process.communicate(timeout=120)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {errors.strip()[-500:]}")
        return self.output.read_text().splitlines()
