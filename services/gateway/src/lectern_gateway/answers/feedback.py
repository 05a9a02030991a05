"""``POST /v1/feedback``: a user rates an answer; published as ``FeedbackGiven``.

The answer is named by the ``answer_id`` every answer carries (the JSON body, the SSE
``done`` event, a non-streamed chat completion's ``id`` after ``chatcmpl-``). The gateway
does not check that the answer exists: its ``AnswerCompleted`` may still wait in
RabbitMQ (the session-logger down or behind, or the event deferred by the gateway's
background publisher), so a check would refuse honest feedback exactly when the system
is degraded, and would make feedback depend on the session-logger, which DESIGN.md
keeps out of the write path. An id matching no answer is stored anyway and reported by
the analytics summary as ``orphaned``; ids are random UUIDs, so feedback cannot be aimed
at someone else's answer by guessing.

``202`` means the broker confirmed the event (persistent, mandatory routing), as for
ingest; an unconfirmed publish is ``503``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from lectern.contracts import FEEDBACK_COMMENT_MAX_CHARS, FeedbackGiven
from lectern_gateway.auth import request_access
from lectern_gateway.backends import Backends
from lectern_gateway.schemas import SessionId

AnswerId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
"""An answer's id as the gateway hands it out: a UUID in its 36-character text form."""


class FeedbackBody(BaseModel):
    """``POST /v1/feedback``: rate the answer ``answer_id`` ``up`` or ``down``.

    ``comment`` is at most 2,000 characters; ``session_id`` the session the answer
    belongs to, when the client knows it.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    answer_id: AnswerId
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=FEEDBACK_COMMENT_MAX_CHARS)
    session_id: SessionId | None = None


class FeedbackAcceptedBody(BaseModel):
    """Answer to ``POST /v1/feedback``: the broker confirmed the ``FeedbackGiven`` event.

    Attributes:
        feedback_id: the event's ``event_id``.
        answer_id: the rated answer (lower-case).
        rating: ``up`` or ``down``.
        request_id: this request's id (the event's ``correlation_id``).
    """

    feedback_id: UUID
    answer_id: str
    rating: Literal["up", "down"]
    request_id: str


async def give_feedback(
    backends: Backends, body: FeedbackBody, request_id: str
) -> FeedbackAcceptedBody:
    """Publish ``FeedbackGiven`` for ``body`` and wait for the broker's confirm.

    The event names the caller's principal; a blank comment is recorded as none.

    Raises:
        ServiceUnavailableError: (503) the broker is down or did not confirm.
    """
    access = request_access()
    session_id = access.session_for(body.session_id) if body.session_id else None
    event = FeedbackGiven(
        correlation_id=request_id,
        session_id=session_id,
        principal=access.principal.id,
        answer_id=body.answer_id.lower(),
        rating=body.rating,
        comment=(body.comment or "").strip() or None,
    )
    await backends.publish_event(event)
    return FeedbackAcceptedBody(
        feedback_id=event.event_id,
        answer_id=event.answer_id,
        rating=event.rating,
        request_id=request_id,
    )


class FeedbackController(Controller):
    """Ratings of answers (scope ``read``: whoever may ask may rate)."""

    path = "/feedback"
    tags = ["answers"]
    opt = {"scope": "read"}

    @post("/", status_code=HTTP_202_ACCEPTED, summary="Rate an answer up or down")
    async def rate_answer(
        self,
        data: JSONBody[FeedbackBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> FeedbackAcceptedBody:
        """Record a rating of an answer; ``202`` once the broker confirmed it.

        The answer is not looked up (see the module): an unknown ``answer_id`` is
        accepted and shows up as ``orphaned`` in the analytics summary.
        """
        return await give_feedback(backends, data, request.state.request_id)
