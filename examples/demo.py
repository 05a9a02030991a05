"""Lectern demo: start the stack, ingest the Gazebo docs over HTTP, ask real questions.

Run with ``make demo``. Steps:

1. start gateway, indexer and session-logger together (honcho, the ``Procfile``);
2. wait until ``/health/dependencies`` reports every dependency up;
3. send every Markdown file of ``examples/corpus/gazebo-docs`` in bulk
   (``POST /v1/documents:batch``) and show a progress bar until each is ``indexed``;
4. ask a handful of questions through ``/v1/answers`` and print each answer with its
   numbered citations (document and heading path) and its latency;
5. stream one answer token by token (server-sent events);
6. update one document (changed content, so a new version) and delete another, and
   show what search sees afterwards;
7. print how many events Postgres holds by type, and check one row per event;
8. print a few series of each service's Prometheus ``/metrics`` (the gateway's port, and
   ``METRICS_PORT`` of the indexer and the session-logger as the ``Procfile`` sets them);
9. stop the stack and exit 0 (non-zero if any step failed).
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
from httpx_sse import aconnect_sse
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
METRICS = {
    "gateway": f"{GATEWAY}/metrics",
    "indexer": "http://127.0.0.1:9101/metrics",
    "session-logger": "http://127.0.0.1:9102/metrics",
}
"""Each service's Prometheus endpoint as the ``Procfile`` runs them."""
WATCHED_SERIES = (
    "lectern_gateway_rpc_duration_seconds_count",
    "lectern_indexer_ingest_lag_seconds_count",
    "lectern_indexer_ingest_lag_seconds_sum",
    "lectern_indexer_embedding_batch_duration_seconds_sum",
    "lectern_indexer_qdrant_request_duration_seconds_count",
    "lectern_session_logger_events_persisted_total",
    "lectern_session_logger_batch_size_count",
    "lectern_queue_messages_ready",
)
"""Prefixes of the series the demo prints (the rest stays at ``/metrics``)."""
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


def body_of(path: Path, content: str | None = None) -> dict[str, Any]:
    """The ingest body of a corpus file (``content`` overrides the file's text)."""
    document_id = path.relative_to(CORPUS).as_posix()
    return {
        "document_id": document_id,
        "title": title_of(path),
        "source": f"gazebo-docs/{document_id}",
        "format": "markdown",
        "content": content if content is not None else path.read_text(encoding="utf-8"),
        "metadata": {"collection": "gazebo", "section": document_id.split("/")[0]},
    }


async def ingest(client: httpx.AsyncClient, files: list[Path]) -> dict[str, str]:
    """Send every file in batches of 50; return ``{document_id: version}``."""
    versions: dict[str, str] = {}
    for start in range(0, len(files), 50):
        batch = [body_of(path) for path in files[start : start + 50]]
        response = await client.post("/v1/documents:batch", json={"documents": batch})
        response.raise_for_status()
        for result in response.json()["results"]:
            if result["status"] != 202:
                raise RuntimeError(f"{result['document_id']}: {result['detail']}")
            versions[result["document_id"]] = result["version"]
    return versions


async def statuses(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Every document's status by id (pages through ``GET /v1/documents``)."""
    found: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"after": after} if after else {})}
        page = (await client.get("/v1/documents", params=params)).raise_for_status().json()
        found |= {view["document_id"]: view for view in page["documents"]}
        after = page.get("next_cursor")
        if not after:
            return found


async def wait_indexed(
    client: httpx.AsyncClient, versions: dict[str, str], *, label: str = "indexing"
) -> dict[str, Any]:
    """Poll statuses until every document reports its version ``indexed`` or ``failed``."""
    done: dict[str, Any] = {}
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    deadline = time.monotonic() + INDEX_TIMEOUT_S
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=len(versions))
        while len(done) < len(versions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(versions) - len(done)} documents not indexed in time")
            current = await statuses(client)
            for document_id, version in versions.items():
                view = current.get(document_id)
                if document_id in done or not view or view.get("version") != version:
                    continue
                if view["status"] in ("indexed", "failed"):
                    done[document_id] = view
                    progress.advance(task)
            await asyncio.sleep(1)
    return done


def citation_lines(citations: list[dict[str, Any]]) -> list[str]:
    """``[n] document > heading path`` for each citation."""
    lines = []
    for citation in citations:
        hit = citation.get("hit") or citation
        path = " > ".join(hit.get("heading_path") or [])
        lines.append(f"  [{citation.get('number')}] {hit.get('document_id')}  {path}")
    return lines


async def ask(client: httpx.AsyncClient) -> None:
    """Ask each question through ``/v1/answers``; print the answer and its citations."""
    for question in QUESTIONS:
        started = time.perf_counter()
        response = await client.post("/v1/answers", json={"question": question, "top_k": 5})
        response.raise_for_status()
        body = response.json()
        elapsed_ms = (time.perf_counter() - started) * 1000
        generator = body.get("generator", "extractive")
        console.rule(f"[bold]{question}[/bold]  ({elapsed_ms:.0f} ms, {generator})", align="left")
        console.print(body["answer"] or "(no answer)", markup=False, highlight=False)
        for line in citation_lines(body.get("citations", [])):
            console.print(line, style="dim", markup=False, highlight=False)


async def ask_streamed(client: httpx.AsyncClient, question: str) -> None:
    """Stream one answer as server-sent events and print the text as it arrives."""
    console.rule(f"[bold]streamed:[/bold] {question}", align="left")
    started = time.perf_counter()
    first_token_ms: float | None = None
    body = {"question": question, "top_k": 5, "stream": True}
    headers = {"Accept": "text/event-stream"}
    async with aconnect_sse(client, "POST", "/v1/answers", json=body, headers=headers) as source:
        source.response.raise_for_status()
        if not source.response.headers.get("content-type", "").startswith("text/event-stream"):
            await source.response.aread()
            answer = source.response.json()
            console.print(answer["answer"], markup=False, highlight=False)
            return
        async for event in source.aiter_sse():
            data = event.json() if event.data.startswith(("{", "[")) else event.data
            if event.event == "token":
                first_token_ms = first_token_ms or (time.perf_counter() - started) * 1000
                text = data.get("text", "") if isinstance(data, dict) else str(data)
                console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
            elif event.event == "citations":
                console.print()
                cited = data.get("citations", []) if isinstance(data, dict) else data
                for line in citation_lines(cited):
                    console.print(line, style="dim", markup=False, highlight=False)
            elif event.event == "error":
                raise RuntimeError(f"the answer stream failed: {data}")
    total_ms = (time.perf_counter() - started) * 1000
    console.print(f"first token after {first_token_ms or 0:.0f} ms, done after {total_ms:.0f} ms")


async def update_and_delete(client: httpx.AsyncClient, files: list[Path]) -> None:
    """Re-ingest one document with changed content, delete another, show the effect."""
    changed, removed = files[0], files[-1]
    changed_id, removed_id = (p.relative_to(CORPUS).as_posix() for p in (changed, removed))
    before = (await client.get(f"/v1/documents/{changed_id}")).raise_for_status().json()
    note = "\n\n## Demo note\n\nThis section was added by the Lectern demo to show an update.\n"
    content = changed.read_text(encoding="utf-8") + note
    accepted = await client.post("/v1/documents", json=body_of(changed, content))
    version = accepted.raise_for_status().json()["version"]
    after = (await wait_indexed(client, {changed_id: version}, label="update"))[changed_id]
    console.rule("[bold]document update[/bold]", align="left")
    console.print(
        f"{changed_id}: version {before['version'][:12]} ({before['chunk_count']} chunks)"
        f" -> {after['version'][:12]} ({after['chunk_count']} chunks)"
    )
    (await client.delete(f"/v1/documents/{removed_id}")).raise_for_status()
    deadline = time.monotonic() + 120
    while (await client.get(f"/v1/documents/{removed_id}")).json().get("status") != "deleted":
        if time.monotonic() > deadline:
            raise TimeoutError(f"{removed_id} was not deleted in time")
        await asyncio.sleep(0.5)
    hits = await client.post(
        "/v1/search", json={"query": title_of(removed), "top_k": 10, "mode": "hybrid"}
    )
    still = [h for h in hits.raise_for_status().json()["hits"] if h["document_id"] == removed_id]
    console.print(f"{removed_id}: deleted; search for its title finds {len(still)} of its chunks")
    if still:
        raise RuntimeError(f"{removed_id} still found after its delete")


async def event_counts(expected_answers: int) -> None:
    """Print Postgres's events by type once the last answers have landed."""
    connection = await asyncpg.connect(DATABASE_URL)
    try:
        rows: list[Any] = []
        for _ in range(30):
            rows = await connection.fetch(
                "SELECT event_type, count(*) AS n, count(DISTINCT event_id) AS distinct_ids "
                "FROM events GROUP BY event_type ORDER BY event_type"
            )
            answers = sum(row["n"] for row in rows if row["event_type"] == "answer.completed")
            if answers >= expected_answers:
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


async def metrics_excerpt() -> None:
    """Print the watched series of each service's ``/metrics`` (zero series skipped)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for service, url in METRICS.items():
            console.rule(f"[bold]{service}[/bold] {url}", align="left")
            text = (await client.get(url)).text
            for line in text.splitlines():
                name, _, value = line.rpartition(" ")
                if line.startswith(WATCHED_SERIES) and value not in ("0", "0.0"):
                    console.print(f"  {name} {value}", highlight=False, soft_wrap=True)


async def run(stack: subprocess.Popen[bytes]) -> None:
    """The demo's steps against a running stack."""
    files = sorted(CORPUS.rglob("*.md"))
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as client:
        await wait_ready(client, stack)
        console.print(f"[bold]ready[/bold]: ingesting {len(files)} documents from {CORPUS}")
        started = time.perf_counter()
        versions = await ingest(client, files)
        indexed_views = await wait_indexed(client, versions)
        elapsed = time.perf_counter() - started
        indexed = [s for s in indexed_views.values() if s["status"] == "indexed"]
        chunks = sum(int(s.get("chunk_count") or 0) for s in indexed)
        failed = {
            d: s.get("failure_reason") for d, s in indexed_views.items() if s["status"] == "failed"
        }
        console.print(
            f"indexed {len(indexed)}/{len(files)} documents, {chunks} chunks, in {elapsed:.0f} s"
        )
        for document_id, reason in failed.items():
            console.print(f"[red]failed[/red] {document_id}: {reason}")
        await ask(client)
        await ask_streamed(client, QUESTIONS[0])
        await update_and_delete(client, files)
    await event_counts(expected_answers=len(QUESTIONS) + 1)
    await metrics_excerpt()
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
