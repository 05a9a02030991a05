"""Lectern demo: start the stack, ingest the Gazebo docs over HTTP, ask real questions.

Run with ``make demo``. Steps:

1. start gateway, indexer and session-logger together (honcho, the ``Procfile``);
2. wait until ``/health/dependencies`` reports every dependency up;
3. ``POST /v1/documents`` every Markdown file of ``examples/corpus/gazebo-docs``;
4. wait until the session-logger reports each document ``indexed`` (or ``failed``);
5. ask a handful of questions through ``/v1/search`` and print the top 3 hits;
6. print how many events Postgres holds by type, and check one row per event;
7. stop the stack and exit 0 (non-zero if any step failed).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "examples" / "corpus" / "gazebo-docs"
HOST, PORT = os.environ.get("GATEWAY_HOST", "127.0.0.1"), os.environ.get("GATEWAY_PORT", "8000")
GATEWAY = f"http://{HOST}:{PORT}"
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/lectern")
READY_TIMEOUT_S = 240
INDEX_TIMEOUT_S = 900
QUESTIONS = [
    "How do I install Gazebo on macOS?",
    "How do I spawn a URDF model in a running simulation?",
    "Which command launches Gazebo from a ROS 2 launch file?",
    "How can I add a lidar sensor to my robot?",
    "How do I move a robot with keyboard commands?",
    "What replaced Ignition in the Gazebo naming?",
]

console = Console()


def title_of(path: Path) -> str:
    """Return the first Markdown heading of ``path``, else its file name."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def start_stack() -> subprocess.Popen[bytes]:
    """Start the three services under honcho in a new process group."""
    log = open(ROOT / "data" / "demo-services.log", "wb")  # noqa: SIM115 - lives as long as the stack
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "honcho"), "start", "-f", str(ROOT / "Procfile")],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_stack(stack: subprocess.Popen[bytes]) -> None:
    """Send SIGTERM to the stack's process group and wait for it."""
    if stack.poll() is None:
        os.killpg(stack.pid, signal.SIGTERM)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()


async def wait_ready(client: httpx.AsyncClient, stack: subprocess.Popen[bytes]) -> None:
    """Poll ``/health/dependencies`` until all are up; raise if the stack dies or stalls."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last: Any = None
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise RuntimeError("the services exited; see data/demo-services.log")
        try:
            response = await client.get("/health/dependencies")
            last = response.json()
            if response.status_code == 200 and last["all_up"]:
                return
        except httpx.TransportError as exc:
            last = str(exc)
        await asyncio.sleep(1)
    raise TimeoutError(f"not ready after {READY_TIMEOUT_S} s: {last}")


async def ingest(client: httpx.AsyncClient, files: list[Path]) -> dict[str, str]:
    """POST every file; return ``{document_id: version}``."""
    versions: dict[str, str] = {}
    limit = asyncio.Semaphore(8)

    async def one(path: Path) -> None:
        document_id = path.relative_to(CORPUS).as_posix()
        body = {
            "document_id": document_id,
            "title": title_of(path),
            "source": f"gazebo-docs/{document_id}",
            "format": "markdown",
            "content": path.read_text(encoding="utf-8"),  # noqa: ASYNC240 - small local files
            "metadata": {"collection": "gazebo", "section": document_id.split("/")[0]},
        }
        async with limit:
            response = await client.post("/v1/documents", json=body)
        response.raise_for_status()
        versions[document_id] = response.json()["version"]

    await asyncio.gather(*(one(path) for path in files))
    return versions


async def wait_indexed(client: httpx.AsyncClient, versions: dict[str, str]) -> dict[str, Any]:
    """Poll each document's status until indexed or failed at its version."""
    done: dict[str, Any] = {}
    columns = (TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    deadline = time.monotonic() + INDEX_TIMEOUT_S
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("indexing", total=len(versions))
        while len(done) < len(versions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(versions) - len(done)} documents not indexed in time")
            for document_id, version in versions.items():
                if document_id in done:
                    continue
                response = await client.get(f"/v1/documents/{document_id}")
                if response.status_code != 200:
                    continue
                status = response.json()
                if status.get("version") == version and status["status"] in ("indexed", "failed"):
                    done[document_id] = status
                    progress.advance(task)
            await asyncio.sleep(1)
    return done


async def ask(client: httpx.AsyncClient) -> None:
    """Run each question through ``/v1/search`` and print its top 3 hits."""
    for question in QUESTIONS:
        response = await client.post("/v1/search", json={"query": question, "top_k": 3})
        response.raise_for_status()
        body = response.json()
        table = Table(title=f"{question}  ({body['latency_ms']:.0f} ms)", title_justify="left")
        for column in ("#", "document", "heading path", "score"):
            table.add_column(column)
        for rank, hit in enumerate(body["hits"], start=1):
            path = " > ".join(hit["heading_path"])
            table.add_row(str(rank), hit["document_id"], path, f"{hit['score']:.3f}")
        console.print(table)


async def event_counts(expected_searches: int) -> None:
    """Print Postgres's events by type once the last searches have landed."""
    connection = await asyncpg.connect(DATABASE_URL)
    try:
        rows: list[Any] = []
        for _ in range(30):
            rows = await connection.fetch(
                "SELECT event_type, count(*) AS n, count(DISTINCT event_id) AS distinct_ids "
                "FROM events GROUP BY event_type ORDER BY event_type"
            )
            searches = sum(row["n"] for row in rows if row["event_type"] == "search.completed")
            if searches >= expected_searches:
                break
            await asyncio.sleep(1)
    finally:
        await connection.close()
    table = Table(title="Events in Postgres", title_justify="left")
    for column in ("event type", "rows", "distinct event ids"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["event_type"], str(row["n"]), str(row["distinct_ids"]))
    console.print(table)
    if any(row["n"] != row["distinct_ids"] for row in rows):
        raise RuntimeError("an event is stored more than once")


async def run(stack: subprocess.Popen[bytes]) -> None:
    """The demo's steps against a running stack."""
    files = sorted(CORPUS.rglob("*.md"))
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as client:
        await wait_ready(client, stack)
        console.print(f"[bold]ready[/bold]: ingesting {len(files)} documents from {CORPUS}")
        started = time.perf_counter()
        versions = await ingest(client, files)
        statuses = await wait_indexed(client, versions)
        elapsed = time.perf_counter() - started
        indexed = [s for s in statuses.values() if s["status"] == "indexed"]
        chunks = sum(int(s.get("chunk_count") or 0) for s in indexed)
        failed = {
            d: s.get("failure_reason") for d, s in statuses.items() if s["status"] == "failed"
        }
        console.print(
            f"indexed {len(indexed)}/{len(files)} documents, {chunks} chunks, in {elapsed:.0f} s"
        )
        for document_id, reason in failed.items():
            console.print(f"[red]failed[/red] {document_id}: {reason}")
        await ask(client)
    await event_counts(expected_searches=len(QUESTIONS))
    if failed:
        raise RuntimeError(f"{len(failed)} documents failed to index")


def main() -> int:
    """Start the stack, run the demo, always stop the stack; 0 on success."""
    (ROOT / "data").mkdir(exist_ok=True)
    try:
        httpx.get(f"{GATEWAY}/health/live", timeout=1)
    except httpx.TransportError:
        pass
    else:
        console.print(f"[red]something already listens on {GATEWAY}; stop it first[/red]")
        return 2
    stack = start_stack()
    try:
        asyncio.run(run(stack))
    except Exception as exc:  # the demo reports any failure and exits non-zero
        console.print(f"[red]demo failed:[/red] {exc!r}")
        return 1
    finally:
        stop_stack(stack)
    console.print("[green]demo finished[/green]; services stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
