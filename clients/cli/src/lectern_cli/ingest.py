"""``lectern ingest``: send a folder of documents, then wait until each is indexed.

Two phases, each with a progress bar: *send* (``POST /v1/documents:batch`` with up to
100 files each, ``--concurrency`` batches at once; ``429`` waits its ``Retry-After``;
documents a ``207`` answered ``429``/``503`` are resent with back-off)
and, with ``--wait``, *index* (page through ``GET /v1/documents`` until every sent
document reports the version that was sent as ``indexed`` or ``failed``). A document
whose indexed version already equals the content sent is reported ``unchanged``.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lectern_cli.client import RETRY_STATUSES, ApiError, LecternClient

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".text": "text",
}
"""File extensions the gateway can ingest, and their ``format``."""

ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:/@+-]+")
"""Characters a document id may not hold (the gateway's ``DocumentId`` pattern)."""

HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
BATCH_PATH = "/v1/documents:batch"
BATCH_DOCUMENTS = 100
"""Documents per bulk request (the gateway takes up to 500)."""

BATCH_BYTES = 4 * 1024 * 1024
"""Approximate body size per bulk request, under the gateway's 8 MiB default limit."""

ITEM_ATTEMPTS = 5
"""Tries for a document a bulk answer refused with ``429``/``503`` (see ``_send_batch``)."""
ITEM_BACKOFF_S = 0.5
"""Wait before the first resend; it doubles with each try (0.5, 1, 2, 4 s)."""

PAGE_SIZE = 500
POLL_INTERVAL_S = 1.0


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: where it is, its document id and its format."""

    path: Path
    document_id: str
    format: str


@dataclass
class IngestReport:
    """Outcome per document id: ``indexed``, ``unchanged``, ``failed`` or ``sent``."""

    outcome: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        """How many documents ended with ``outcome``."""
        return sum(1 for value in self.outcome.values() if value == outcome)

    def fail(self, document_id: str, reason: str) -> None:
        """Record a failure with its reason."""
        self.outcome[document_id] = "failed"
        self.reasons[document_id] = reason


def document_id_for(path: Path, root: Path) -> str:
    """The document id of ``path``: its path below ``root`` (POSIX), made id-safe."""
    relative = path.relative_to(root) if path != root else Path(path.name)
    cleaned = ID_UNSAFE.sub("-", relative.as_posix()).strip("/")
    return re.sub("/{2,}", "/", cleaned)[:256]


def discover(paths: Iterable[Path]) -> tuple[list[SourceFile], list[Path]]:
    """Walk files and folders; return the ingestable files (sorted) and the skipped ones."""
    found: list[SourceFile] = []
    skipped: list[Path] = []
    for given in paths:
        root = given if given.is_dir() else given.parent
        for path in sorted(given.rglob("*")) if given.is_dir() else [given]:
            if not path.is_file() or any(part.startswith(".") for part in path.parts[-1:]):
                continue
            document_format = FORMATS.get(path.suffix.lower())
            if document_format is None:
                skipped.append(path)
                continue
            found.append(SourceFile(path, document_id_for(path, root), document_format))
    return found, skipped


def title_of(text: str, source: SourceFile) -> str:
    """The document's title, at most 512 characters.

    The first Markdown ``#`` heading, else the HTML ``<title>`` (character references
    decoded), else the file name's stem.
    """
    if source.format == "markdown":
        for line in text.splitlines():
            if line.startswith("# ") and line[2:].strip():
                return line[2:].strip()[:512]
    if source.format == "html" and (match := HTML_TITLE.search(text)):
        title = " ".join(html.unescape(match.group(1)).split())  # &#8212; -> —
        if title:
            return title[:512]
    return source.path.stem[:512] or "untitled"


async def ingest(
    client: LecternClient,
    files: list[SourceFile],
    *,
    concurrency: int,
    wait: bool,
    timeout_s: float,
    collection: str | None,
    progress: Progress,
) -> IngestReport:
    """Send ``files`` and, with ``wait``, follow them until indexed (see module doc)."""
    report = IngestReport()
    before = await _statuses(client, collection) if wait else {}
    sent: dict[str, str] = {}
    task = progress.add_task("send", total=len(files))
    gate = asyncio.Semaphore(concurrency)

    async def send(batch: list[tuple[SourceFile, dict[str, Any]]]) -> None:
        async with gate:
            try:
                await _send_batch(client, batch, sent, report)
            finally:
                progress.advance(task, len(batch))

    bodies: list[tuple[SourceFile, dict[str, Any]]] = []
    for source in files:
        try:
            bodies.append((source, _body(source, collection)))
        except UnicodeDecodeError:
            report.fail(source.document_id, "not UTF-8 text")
            progress.advance(task)
    await asyncio.gather(*(send(batch) for batch in batches(bodies)))
    if wait:
        await _follow(client, sent, before, report, timeout_s, progress, collection)
    return report


async def _send_batch(
    client: LecternClient,
    batch: list[tuple[SourceFile, dict[str, Any]]],
    sent: dict[str, str],
    report: IngestReport,
) -> None:
    """Send one bulk request; resend the documents answered ``429``/``503`` inside it.

    A ``207`` can hold per-document ``503`` (the broker did not confirm that document)
    or ``429``: those are resent alone, up to :data:`ITEM_ATTEMPTS` tries with
    exponential back-off from :data:`ITEM_BACKOFF_S`; other statuses fail the document.
    Accepted documents go into ``sent`` (``{document_id: version}``).
    """
    pending = batch
    for attempt in range(1, ITEM_ATTEMPTS + 1):
        try:
            answer = await client.request(
                "POST", BATCH_PATH, json={"documents": [body for _, body in pending]}
            )
        except ApiError as exc:
            for source, _ in pending:
                report.fail(source.document_id, f"{exc.status} {exc.detail}")
            return
        again: list[tuple[SourceFile, dict[str, Any]]] = []
        for result in answer["results"]:
            item = pending[result["index"]]
            document_id = item[0].document_id
            if result["status"] == 202:
                sent[document_id] = result["version"]
                report.outcome[document_id] = "sent"
            elif result["status"] in RETRY_STATUSES and attempt < ITEM_ATTEMPTS:
                again.append(item)
            else:
                report.fail(document_id, f"{result['status']} {result['detail']}")
        if not again:
            return
        pending = again
        await asyncio.sleep(ITEM_BACKOFF_S * 2 ** (attempt - 1))


def _body(source: SourceFile, collection: str | None) -> dict[str, Any]:
    """The ingest body of one file (raises ``UnicodeDecodeError`` for non-UTF-8 files)."""
    text = source.path.read_text(encoding="utf-8")
    body: dict[str, Any] = {
        "document_id": source.document_id,
        "title": title_of(text, source),
        "source": str(source.path),
        "format": source.format,
        "content": text,
    }
    if collection:
        body["collection"] = collection
    return body


def batches(
    items: list[tuple[SourceFile, dict[str, Any]]],
) -> Iterator[list[tuple[SourceFile, dict[str, Any]]]]:
    """Group bodies into batches of at most :data:`BATCH_DOCUMENTS` and ~:data:`BATCH_BYTES`."""
    batch: list[tuple[SourceFile, dict[str, Any]]] = []
    size = 0
    for item in items:
        item_size = len(item[1]["content"].encode("utf-8")) + 1024
        if batch and (len(batch) >= BATCH_DOCUMENTS or size + item_size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


async def _follow(
    client: LecternClient,
    sent: dict[str, str],
    before: dict[str, dict[str, Any]],
    report: IngestReport,
    timeout_s: float,
    progress: Progress,
    collection: str | None = None,
) -> None:
    pending = dict(sent)
    for document_id, version in sent.items():
        old = before.get(document_id)
        if old and old.get("status") == "indexed" and old.get("version") == version:
            report.outcome[document_id] = "unchanged"
            pending.pop(document_id)
    task = progress.add_task("index", total=len(sent), completed=len(sent) - len(pending))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending and loop.time() < deadline:
        await asyncio.sleep(POLL_INTERVAL_S)
        statuses = await _statuses(client, collection)
        for document_id, version in list(pending.items()):
            view = statuses.get(document_id)
            if not view or view.get("version") != version:
                continue
            if view.get("status") == "indexed":
                report.outcome[document_id] = "indexed"
            elif view.get("status") == "failed":
                report.fail(document_id, str(view.get("failure_reason") or "indexing failed"))
            else:
                continue
            pending.pop(document_id)
            progress.advance(task)
    for document_id in pending:
        report.fail(document_id, f"not indexed within {timeout_s:g} s")


async def _statuses(
    client: LecternClient, collection: str | None = None
) -> dict[str, dict[str, Any]]:
    """Every document's status view in ``collection`` (``default`` when ``None``), by id.

    Pages through ``GET /v1/documents?collection=...``.
    """
    found: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "collection": collection or "default"}
        if after:
            params["after"] = after
        page = await client.request("GET", "/v1/documents", params=params)
        for item in page.get("documents", []):
            found[item["document_id"]] = item
        after = page.get("next_cursor")
        if not after:
            return found


def progress_bar() -> Progress:
    """The progress display used by ``ingest``."""
    return Progress(
        TextColumn("{task.description:>6}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
