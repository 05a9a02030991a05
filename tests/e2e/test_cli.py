"""The ``lectern`` command line against the three services running as processes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GAZEBO_CORPUS, REPO_ROOT
from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOCUMENTS = ("library_howtos.md", "web_visualization.md", "install_osx.md")
LECTERN = REPO_ROOT / ".venv" / "bin" / "lectern"


def lectern(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI against ``stack``; the output is captured as text."""
    env = {**os.environ, "LECTERN_URL": stack.base_url, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LECTERN), *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with three real Gazebo pages in a subfolder and one non-document file."""
    docs = tmp_path / "docs"
    (docs / "jetty").mkdir(parents=True)
    for name in DOCUMENTS:
        shutil.copy(GAZEBO_CORPUS / "jetty" / name, docs / "jetty" / name)
    (docs / "logo.png").write_bytes(b"\x89PNG")
    return docs


def test_ingest_wait_search_ask_status_and_dead_letters(stack: Stack, folder: Path):
    first = lectern(stack, "ingest", str(folder), "--wait")
    assert first.returncode == 0, first.stdout + first.stderr
    summary = first.stdout.splitlines()
    row = next(line for line in summary if line.strip().startswith("│") and "3" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["3", "0", "0", "0", "1"]

    again = lectern(stack, "ingest", str(folder), "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    row = next(line for line in again.stdout.splitlines() if "│" in line and "3" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["0", "3", "0", "0", "1"]

    (folder / "jetty" / "empty.md").write_text("   \n", encoding="utf-8")
    failing = lectern(stack, "ingest", str(folder / "jetty" / "empty.md"), "--wait")
    assert failing.returncode == 1
    assert "failed empty.md: 400" in failing.stdout

    found = lectern(stack, "search", "How do I install Gazebo on macOS?", "--top-k", "2")
    assert found.returncode == 0, found.stderr
    assert "jetty/install_osx.md" in found.stdout

    status = lectern(stack, "status", "jetty/install_osx.md")
    assert status.returncode == 0, status.stderr
    assert "indexed" in status.stdout
    missing = lectern(stack, "status", "jetty/no-such-page.md")
    assert missing.returncode == 1
    assert "404" in missing.stderr

    listed = lectern(stack, "documents", "--status", "indexed")
    assert all(f"jetty/{name}" in listed.stdout for name in DOCUMENTS), listed.stdout

    answer = lectern(stack, "ask", "How do I install Gazebo on macOS?", "--no-stream")
    assert answer.returncode == 0, answer.stderr
    assert "[1]" in answer.stdout

    dead = lectern(stack, "dlq", "list", "indexer.commands.0")
    assert dead.returncode == 0, dead.stderr
    assert "indexer.commands.0.dlq: 0 message(s)" in dead.stdout
    usage = lectern(stack, "dlq", "replay", "indexer.commands.0")
    assert usage.returncode == 2

    # Collections: create one, ingest a page into it, search only it, list, delete.
    assert lectern(stack, "collections", "create", "cli-team").returncode == 0
    page = folder / "jetty" / "web_visualization.md"
    into = lectern(stack, "ingest", str(page), "--collection", "cli-team", "--wait")
    assert into.returncode == 0, into.stdout + into.stderr
    scoped = lectern(stack, "search", "web visualization", "--collection", "cli-team")
    assert scoped.returncode == 0, scoped.stderr
    assert "cli-team" in scoped.stdout
    assert "install_osx.md" not in scoped.stdout
    status = lectern(stack, "status", "web_visualization.md", "--collection", "cli-team")
    assert "indexed" in status.stdout, status.stdout + status.stderr
    table = lectern(stack, "collections", "list")
    assert "cli-team" in table.stdout
    assert "default" in table.stdout
    dropped = lectern(stack, "collections", "delete", "cli-team")
    assert dropped.returncode == 0, dropped.stderr
    assert "deleted cli-team" in dropped.stdout
