"""``/v1/answers``: answers with numbered citations (extractive, or by an LLM)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK

from lectern_gateway.answers import service as answers
from lectern_gateway.answers.llm import LlmClient
from lectern_gateway.answers.streaming import stream_answer, wants_stream
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import AnswerBody, AnswerResultBody


def provide_llm(state: State) -> LlmClient | None:
    """The app's LLM client (``None`` when ``LLM_BASE_URL`` is unset)."""
    client: LlmClient | None = getattr(state, "llm", None)
    return client


class AnswerController(Controller):
    """Answers built from retrieved chunks (or caller-supplied context)."""

    path = "/answers"
    tags = ["answers"]
    opt = {"scope": "read", "answer_slot": True}
    dependencies = {"llm": Provide(provide_llm, sync_to_thread=False)}

    @post(
        "/",
        status_code=HTTP_200_OK,
        summary="Answer a question with citations (JSON, or server-sent events)",
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=AnswerResultBody,
                description="The answer; with stream=true a text/event-stream of retrieval, "
                "step (agent mode), token, citations, done (and error) events",
            )
        },
    )
    async def run_answer(
        self,
        data: JSONBody[AnswerBody],
        backends: NamedDependency[Backends],
        llm: NamedDependency[LlmClient | None],
        request: Request[Any, Any, Any],
    ) -> Response[AnswerResultBody]:
        """Answer from the best chunks; ``context`` answers without the indexer.

        With ``stream: true`` or ``Accept: text/event-stream`` the answer is a stream of
        server-sent events (see :mod:`lectern_gateway.answers.streaming`).
        """
        request_id = request.state.request_id
        if wants_stream(data, request.headers.get("accept")):
            events: Response[Any] = await stream_answer(backends, llm, data, request_id)
            return events
        return Response(await answers.answer(backends, llm, data, request_id))
