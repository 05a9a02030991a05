"""Publish commands and events to Lectern over RabbitMQ with pika (the blocking client).

A self-contained example for other services (docs/producers.md); the integration tests
in tests/integration/producers import and run exactly this file. Needs only
``pip install pika``.

    python producer.py --url amqp://producer:...@rabbitmq:5672/ ingest docs/install.md
    python producer.py --url ... delete docs/install.md
    python producer.py --url ... event support.ticket.closed --session s-1 -f ticket_id=T-42
"""

from __future__ import annotations

import argparse
import hashlib
import json
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

COMMANDS_EXCHANGE = "lectern.commands"
EVENTS_EXCHANGE = "lectern.events"
FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".txt": "text"}


def connect(url: str) -> BlockingChannel:
    """Open a channel in confirm mode: every basic_publish waits for the broker's ack."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    return channel


def content_version(content: str) -> str:
    """Lectern's document version: sha256 of the normalised text (NFC, LF, no trailing space)."""
    text = unicodedata.normalize("NFC", content).replace("\r\n", "\n").replace("\r", "\n")
    normalised = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def envelope(correlation_id: str | None = None, event_id: str | None = None) -> dict[str, Any]:
    """The fields every message carries. Keep event_id when you resend the same message."""
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "correlation_id": correlation_id,
        "schema_version": 1,
    }


def publish(channel: BlockingChannel, exchange: str, routing_key: str, message: dict) -> None:
    """Publish one JSON message: persistent, mandatory, confirmed.

    Raises:
        pika.exceptions.UnroutableError: no queue is bound for routing_key (returned).
        pika.exceptions.NackError: the broker refused the message.
    """
    channel.basic_publish(
        exchange=exchange,
        routing_key=routing_key,
        body=json.dumps(message).encode("utf-8"),
        properties=pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message["event_id"],
            correlation_id=message.get("correlation_id"),
            type=routing_key,
            # commands: the key of the indexer's shards (one document, one shard)
            headers={"x-lectern-document-id": message["document_id"]}
            if "document_id" in message
            else None,
        ),
        mandatory=True,
    )


def ingest(
    channel: BlockingChannel,
    document_id: str,
    title: str,
    content: str,
    document_format: str = "markdown",
    source: str | None = None,
    metadata: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Publish IngestDocument on lectern.commands (routing key document.ingest)."""
    command = {
        **envelope(correlation_id),
        "document_id": document_id,
        "version": content_version(content),
        "title": title,
        "source": source,
        "format": document_format,
        "content": content,
        "metadata": metadata or {},
    }
    publish(channel, COMMANDS_EXCHANGE, "document.ingest", command)
    return command


def delete(
    channel: BlockingChannel, document_id: str, correlation_id: str | None = None
) -> dict[str, Any]:
    """Publish DeleteDocument on lectern.commands (routing key document.delete)."""
    command = {**envelope(correlation_id), "document_id": document_id}
    publish(channel, COMMANDS_EXCHANGE, "document.delete", command)
    return command


def make_event(event_type: str, session_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """An event of your own; fields other than the envelope are stored as its payload."""
    return {**envelope(), "event_type": event_type, "session_id": session_id, **fields}


def publish_event(channel: BlockingChannel, event: dict[str, Any]) -> None:
    """Publish an event on lectern.events; its routing key is its type.

    To resend (after a timeout, a crash), publish the same dict again: the same
    event_id and occurred_at are stored once.
    """
    publish(channel, EVENTS_EXCHANGE, event["event_type"], event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest_args = commands.add_parser("ingest")
    ingest_args.add_argument("path", type=Path)
    ingest_args.add_argument("--id", help="document id (default: the path)")
    commands.add_parser("delete").add_argument("document_id")
    event_args = commands.add_parser("event")
    event_args.add_argument("event_type")
    event_args.add_argument("--session")
    event_args.add_argument("-f", "--field", action="append", default=[], help="key=value")
    args = parser.parse_args()

    channel = connect(args.url)
    if args.command == "ingest":
        content = args.path.read_text(encoding="utf-8")
        title = content.lstrip("# ").splitlines()[0] if content.strip() else args.path.name
        message = ingest(
            channel,
            args.id or args.path.as_posix(),
            title,
            content,
            FORMATS.get(args.path.suffix.lower(), "text"),
            source=args.path.as_posix(),
        )
    elif args.command == "delete":
        message = delete(channel, args.document_id)
    else:
        fields = dict(pair.split("=", 1) for pair in args.field)
        message = make_event(args.event_type, args.session, **fields)
        publish_event(channel, message)
    channel.connection.close()
    print(json.dumps({"event_id": message["event_id"]}))


if __name__ == "__main__":
    main()
