"""A record of when this process handled each document, for the fault suite.

With ``HANDLING_RECORD_DIR`` set, every command handled appends two JSON lines to
``<dir>/handling-<pid>.jsonl``: ``begin`` once the command is decoded, ``end`` once it is
settled, each with the document id, the command id and ``time.monotonic_ns()`` (the
system-wide monotonic clock, comparable between processes on one machine). The fault
suite reads the files of several replicas and checks that no two processes ever held
one document at the same time. Off (no file) unless the setting is given.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class HandlingRecorder:
    """Appends begin/end lines per handled command to this process's record file.

    Args:
        folder: the record folder (created if missing).
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"handling-{os.getpid()}.jsonl"

    @contextmanager
    def handling(self, document_id: str, command_id: str) -> Iterator[None]:
        """Record ``begin`` now and ``end`` when the block exits (even by an exception)."""
        self._write("begin", document_id, command_id)
        try:
            yield
        finally:
            self._write("end", document_id, command_id)

    def _write(self, phase: str, document_id: str, command_id: str) -> None:
        line = {
            "pid": os.getpid(),
            "phase": phase,
            "document_id": document_id,
            "command_id": command_id,
            "t_ns": time.monotonic_ns(),
        }
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
