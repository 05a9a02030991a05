"""``/v1/search``: hybrid, dense or sparse search over the indexed chunks."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from lectern_gateway import search
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import SearchBody, SearchResultBody


class SearchController(Controller):
    """Search over RabbitMQ request/reply to the indexer."""

    path = "/search"
    tags = ["search"]
    opt = {"scope": "read"}

    @post("/", status_code=HTTP_200_OK, summary="Search the indexed documents")
    async def run_search(
        self,
        data: JSONBody[SearchBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> SearchResultBody:
        """Answer the ``top_k`` best chunks; 503 when the indexer is away, 504 on timeout."""
        return await search.search(backends, data, request.state.request_id)
