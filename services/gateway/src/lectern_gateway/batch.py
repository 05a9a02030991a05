"""Service layer for bulk ingest: many documents in one request, one result each.

Each item goes through exactly the validation and publishing of a single ingest
(:func:`lectern_gateway.ingest.accept_document`: the command and its ``DocumentAccepted``
event, both confirmed), so a batch is only a cheaper way to send, never another contract.
Items are independent: one invalid item does not stop the others, and the answer lists
every item's own status (``207 Multi-Status`` style, RFC 4918 section 13).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic

from lectern.logging import get_logger
from lectern_gateway.backends import Backends
from lectern_gateway.errors import GatewayError, ServiceUnavailableError
from lectern_gateway.ingest import accept_document
from lectern_gateway.schemas import BatchItemResult, IngestDocumentBody

log = get_logger(__name__)

PUBLISH_CONCURRENCY = 16
"""Items of one batch published at once (each waits for two publisher confirms)."""


async def accept_batch(
    backends: Backends,
    items: list[dict[str, Any]],
    request_id: str,
    collection: str | None = None,
) -> list[BatchItemResult]:
    """Validate and queue every item; return one result per item, in request order.

    ``collection`` is the collection of every item that names none (else ``default``).
    A broker failure on one item fails that item with ``503``; a collection the key may
    not use or that does not exist fails it with ``403``/``404``; the caller decides the
    overall status from the results.
    """
    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(index: int, item: dict[str, Any]) -> BatchItemResult:
        document_id = item.get("document_id") if isinstance(item, dict) else None
        if collection is not None and isinstance(item, dict) and "collection" not in item:
            item = {**item, "collection": collection}
        try:
            body = IngestDocumentBody.model_validate(item)
        except pydantic.ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors()
            )
            return BatchItemResult(
                index=index, document_id=_text(document_id), status=400, detail=detail
            )
        async with gate:
            try:
                accepted = await accept_document(backends, body, request_id)
            except ServiceUnavailableError:
                log.warning("batch.item_not_confirmed", index=index)
                return BatchItemResult(
                    index=index,
                    document_id=_text(document_id),
                    status=503,
                    detail="the broker did not confirm this document; send it again",
                )
            except GatewayError as exc:
                return BatchItemResult(
                    index=index,
                    document_id=_text(document_id),
                    status=exc.status,
                    detail=exc.detail,
                )
        return BatchItemResult(
            index=index,
            document_id=accepted.document_id,
            status=202,
            version=accepted.version,
        )

    return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))


def _text(value: object) -> str | None:
    return value[:256] if isinstance(value, str) else None
