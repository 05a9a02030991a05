"""The documents the benchmarks send: the shared corpora and SciFact, as ingest bodies.

A body is the JSON of ``POST /v1/documents`` (``document_id``, ``title``, ``source``,
``format``, ``content``). Files are found and titled by the CLI's own code
(:mod:`lectern_cli.ingest`); SciFact abstracts become one ``text`` document each, as the
retrieval evaluation ingests them (title, newline, abstract: BEIR's convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.eval_sets import SHARED, load_set
from lectern.contracts import IngestDocument, content_version
from lectern_cli.ingest import discover, title_of
from lectern_indexer.chunking import Chunker, WordPieceCounter
from lectern_indexer.parsing import parse_document
from lectern_indexer.settings import IndexerSettings
from lectern_indexer.validation import validate_ingest

CORPUS_ROOT = SHARED / "corpus"
Body = dict[str, Any]


@dataclass(frozen=True)
class Corpus:
    """Named ingest bodies (``name`` labels the report's rows)."""

    name: str
    bodies: list[Body]


def folder_corpus(folder: str, prefix: str, limit: int | None = None) -> Corpus:
    """Every ingestable file of ``../shared/corpus/<folder>`` (the first ``limit``).

    Document ids are ``<prefix>/<path below the folder>``, so one folder can be sent
    twice as different documents.
    """
    files, _ = discover([CORPUS_ROOT / folder])
    bodies = []
    for source in files[:limit]:
        text = source.path.read_text(encoding="utf-8")
        bodies.append(
            {
                "document_id": f"{prefix}/{source.document_id}",
                "title": title_of(text, source),
                "source": f"{folder}/{source.document_id}",
                "format": source.format,
                "content": text,
            }
        )
    return Corpus(folder, bodies)


def scifact_corpus(prefix: str = "scifact", limit: int | None = None) -> Corpus:
    """SciFact abstracts (5,183; the first ``limit``), one ``text`` document each."""
    bodies = []
    for record in load_set("scifact").corpus[:limit]:
        content = f"{record.get('title') or ''}\n{record.get('text') or ''}".strip()
        if content:
            title = (record.get("title") or record["_id"])[:512]
            bodies.append(
                {
                    "document_id": f"{prefix}/{record['_id']}",
                    "title": title,
                    "source": f"scifact/{record['_id']}",
                    "format": "text",
                    "content": content,
                }
            )
    return Corpus("scifact abstracts", bodies)


def chunk_texts(bodies: list[Body], model_path: Path | None) -> list[str]:
    """The texts the indexer embeds for ``bodies``, by its own validate/parse/chunk code.

    Args:
        bodies: ingest bodies.
        model_path: the dense model folder (its ``tokenizer.json`` counts word pieces).

    Returns:
        Every chunk's ``embed_text``, document by document, in chunk order.
    """
    defaults = IndexerSettings.model_fields
    chunker = Chunker(
        WordPieceCounter.from_model_path(model_path), defaults["chunk_max_tokens"].default
    )
    texts: list[str] = []
    for body in bodies:
        command = IngestDocument(**body, version=content_version(body["content"]), metadata={})
        content = validate_ingest(command, defaults["max_document_bytes"].default)
        parsed = parse_document(content, command.format)
        texts.extend(chunk.embed_text for chunk in chunker.chunk(command.title, parsed))
    return texts
