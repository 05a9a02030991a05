"""The ``lectern`` command: a client of the gateway's HTTP API (typer + rich).

Every command reads ``--url`` (``LECTERN_URL``, default ``http://127.0.0.1:8000``) and
``--api-key`` (``LECTERN_API_KEY``). Exit codes: 0 success, 1 something failed (an ingest
with failed documents, an error answer), 2 bad usage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from lectern_cli import ingest as ingest_module
from lectern_cli.client import ApiError, LecternClient

T = TypeVar("T")
app = typer.Typer(help="Lectern: ingest documents, search and ask over the gateway's HTTP API.")
dlq_app = typer.Typer(help="Dead-letter queues (needs an admin key).")
app.add_typer(dlq_app, name="dlq")
collections_app = typer.Typer(help="Collections (needs an admin key).")
app.add_typer(collections_app, name="collections")
console = Console()
errors = Console(stderr=True)

Url = Annotated[str, typer.Option(envvar="LECTERN_URL", help="the gateway")]
Key = Annotated[str | None, typer.Option(envvar="LECTERN_API_KEY", help="API key")]
Collections = Annotated[
    list[str] | None,
    typer.Option("--collection", help="a collection to read (repeatable; default: all yours)"),
]
Collection = Annotated[str, typer.Option(help="the document's collection")]
DEFAULT_URL = "http://127.0.0.1:8000"


def _run(url: str, key: str | None, work: Callable[[LecternClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client; report API and connection errors and exit 1."""

    async def main() -> T:
        async with LecternClient(url, key) as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except ApiError as exc:
        errors.print(f"[red]error[/red] {exc.status} {exc.title}: {exc.detail}")
    except httpx.TransportError as exc:
        errors.print(f"[red]error[/red] cannot reach the gateway at {url}: {exc}")
    raise typer.Exit(1)


@app.command("ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="files or folders")],
    wait: Annotated[bool, typer.Option(help="wait until every document is indexed")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    timeout: Annotated[float, typer.Option(help="seconds to wait with --wait")] = 1800.0,
    collection: Annotated[str | None, typer.Option(help="target collection")] = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Ingest Markdown, HTML and text files (folders are walked)."""
    files, skipped = ingest_module.discover(paths)
    if not files:
        errors.print("no .md, .html or .txt files found")
        raise typer.Exit(1)
    with ingest_module.progress_bar() as progress:
        report = _run(
            url,
            api_key,
            lambda client: ingest_module.ingest(
                client,
                files,
                concurrency=concurrency,
                wait=wait,
                timeout_s=timeout,
                collection=collection,
                progress=progress,
            ),
        )
    summary = Table(title="ingest summary")
    for column in ("indexed", "unchanged", "sent", "failed", "skipped"):
        summary.add_column(column, justify="right")
    summary.add_row(
        *(str(report.count(o)) for o in ("indexed", "unchanged", "sent", "failed")),
        str(len(skipped)),
    )
    console.print(summary)
    for document_id, reason in sorted(report.reasons.items()):
        console.print(f"[red]failed[/red] {document_id}: {reason}")
    if report.count("failed"):
        raise typer.Exit(1)


@app.command()
def search(
    query: str,
    top_k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or sparse")] = "hybrid",
    collection: Collections = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Search the index and print the best chunks."""
    body: dict[str, Any] = {"query": query, "top_k": top_k, "mode": mode}
    if collection:
        body["collections"] = collection
    result = _run(url, api_key, lambda c: c.request("POST", "/v1/search", json=body))
    table = Table(title=f"{query}  ({result.get('latency_ms', 0):.0f} ms)")
    for column in ("#", "collection", "document", "heading path", "text"):
        table.add_column(column)
    for rank, hit in enumerate(result["hits"], 1):
        path = " > ".join(hit.get("heading_path") or [])
        where = hit.get("collection", "default")
        table.add_row(str(rank), where, hit["document_id"], path, hit["text"][:160])
    console.print(table)


@app.command()
def ask(
    question: str,
    top_k: Annotated[int, typer.Option(min=1, max=50)] = 5,
    stream: Annotated[bool, typer.Option(help="print the answer as it is written")] = True,
    session_id: Annotated[str | None, typer.Option(help="continue a conversation")] = None,
    collection: Collections = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Ask a question; the answer streams with numbered citations."""
    body: dict[str, Any] = {"question": question, "top_k": top_k}
    if collection:
        body["collections"] = collection
    if session_id:
        body["session_id"] = session_id

    async def work(client: LecternClient) -> None:
        if not stream:
            _print_answer(await client.request("POST", "/v1/answers", json=body))
            return
        async for event in client.stream("/v1/answers", {**body, "stream": True}):
            if event.event == "token":
                text = event.data.get("text", "") if isinstance(event.data, dict) else event.data
                console.print(text, end="", soft_wrap=True, markup=False, highlight=False)
            elif event.event == "citations":
                console.print()
                _print_citations(event.data.get("citations", []))
            elif event.event == "answer":
                _print_answer(event.data)
            elif event.event == "error":
                raise ApiError(502, "answer failed", str(event.data), None)

    _run(url, api_key, work)


def _print_answer(body: dict[str, Any]) -> None:
    console.print(body.get("answer", ""), markup=False, highlight=False)
    _print_citations(body.get("citations", []))


def _print_citations(citations: list[dict[str, Any]]) -> None:
    for citation in citations:
        source = citation.get("hit") or citation
        path = " > ".join(source.get("heading_path") or [])
        number = citation.get("number", "?")
        console.print(f"  [{number}] {source.get('document_id')}  {path}", markup=False)


@app.command()
def status(
    document_id: str,
    collection: Collection = "default",
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Show a document's latest status."""
    path, params = f"/v1/documents/{document_id}", {"collection": collection}
    view = _run(url, api_key, lambda c: c.request("GET", path, params=params))
    for key, value in view.items():
        if value is not None and key != "kind":
            console.print(f"{key:>15}  {value}", markup=False, highlight=False)


@app.command()
def documents(
    status: Annotated[str | None, typer.Option(help="accepted, indexed, failed, deleted")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    collection: Collections = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """List documents (one page, ordered by collection and id)."""
    params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
    if collection:
        params["collection"] = collection
    page = _run(url, api_key, lambda c: c.request("GET", "/v1/documents", params=params))
    table = Table()
    for column in ("collection", "document", "status", "chunks", "version"):
        table.add_column(column)
    for view in page["documents"]:
        version = (view.get("version") or "")[:12]
        table.add_row(
            view.get("collection", "default"),
            view["document_id"],
            view["status"],
            str(view.get("chunk_count")),
            version,
        )
    console.print(table)


@collections_app.command("list")
def collections_list(url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """List the collections with their document and chunk counts."""
    found = _run(url, api_key, lambda c: c.request("GET", "/v1/collections"))
    table = Table()
    for column in ("collection", "documents", "chunks", "created"):
        table.add_column(column)
    for item in found["collections"]:
        created = item.get("created_at") or ""
        table.add_row(item["name"], str(item["document_count"]), str(item["chunk_count"]), created)
    console.print(table)


@collections_app.command("create")
def collections_create(name: str, url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """Create a collection."""
    _run(url, api_key, lambda c: c.request("POST", "/v1/collections", json={"name": name}))
    console.print(f"created {name}", markup=False)


@collections_app.command("delete")
def collections_delete(name: str, url: Url = DEFAULT_URL, api_key: Key = None) -> None:
    """Delete a collection and every chunk in it."""
    done = _run(url, api_key, lambda c: c.request("DELETE", f"/v1/collections/{name}"))
    console.print(f"deleted {name} ({done['deleted_points']} points)", markup=False)


@dlq_app.command("list")
def dlq_list(
    queue: Annotated[str, typer.Argument(help="a work queue or its .dlq")],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Show dead-lettered messages with their reasons (they stay in the queue)."""
    params = {"limit": limit}
    body = _run(
        url, api_key, lambda c: c.request("GET", f"/v1/admin/dead-letters/{queue}", params=params)
    )
    table = Table(title=f"{body['queue']}: {body['depth']} message(s)")
    for column in ("message id", "reason", "attempts", "dead-lettered at", "body"):
        table.add_column(column)
    for message in body["messages"]:
        table.add_row(
            str(message["message_id"]),
            message["reason"],
            str(message["attempts"]),
            str(message["dead_lettered_at"] or ""),
            message["body_preview"][:80],
        )
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    queue: Annotated[str, typer.Argument(help="a work queue or its .dlq")],
    message_id: Annotated[list[str] | None, typer.Option("--id", help="replay this id")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="replay every message")] = False,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
) -> None:
    """Send dead-lettered messages back to their work queue (attempts reset)."""
    if replay_all == bool(message_id):
        errors.print("give either --id (one or more) or --all")
        raise typer.Exit(2)
    body: dict[str, Any] = {"all": True} if replay_all else {"message_ids": message_id}
    path = f"/v1/admin/dead-letters/{queue}/replay"
    result = _run(url, api_key, lambda c: c.request("POST", path, json=body))
    count, source, target = result["count"], result["queue"], result["target"]
    console.print(f"replayed {count} message(s) from {source} to {target}")
