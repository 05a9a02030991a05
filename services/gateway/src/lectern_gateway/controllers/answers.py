"""``/v1/answers``: extractive answers with numbered citations."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from lectern_gateway import answers
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import AnswerBody, AnswerResultBody


class AnswerController(Controller):
    """Answers built from retrieved chunks (or caller-supplied context)."""

    path = "/answers"
    tags = ["answers"]
    opt = {"scope": "read", "answer_slot": True}

    @post("/", status_code=HTTP_200_OK, summary="Answer a question with citations")
    async def run_answer(
        self,
        data: JSONBody[AnswerBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> AnswerResultBody:
        """Answer from the best chunks; ``context`` answers without the indexer."""
        return await answers.answer(backends, data, request.state.request_id)
