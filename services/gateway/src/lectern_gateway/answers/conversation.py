"""Follow-up questions: make a question standalone from its conversation before retrieval.

Earlier turns come from the session's history (the session-logger's ``answer.completed``
events of ``session_id``, read over RPC) or, for ``/v1/chat/completions``, from the
request's earlier messages. With an LLM the follow-up is rewritten into a standalone
question by one chat call over the last :data:`HISTORY_TURNS` turns; if that call fails
or times out, the raw question is searched (``reason: rewrite_<llm reason>``). Without an
LLM the previous turn's content terms are carried: the words of its search query (or
question) that are not stop words and whose stem the follow-up lacks are appended, at
most :data:`CARRIED_TERMS`, after the follow-up's own words (the hybrid search then
matches them on the sparse side and shifts the dense embedding towards the topic). The
session-logger being away means no rewriting (``reason: session_history_unavailable``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from openai.types.chat import ChatCompletionMessageParam

from lectern.logging import get_logger
from lectern_gateway.answers.llm import LlmClient, Usage, fallback_reason
from lectern_gateway.answers.sentences import STOP_WORDS, stem, terms, words
from lectern_gateway.backends import Backends
from lectern_gateway.errors import GatewayError, NotFoundError
from lectern_gateway.reads import session_history
from lectern_gateway.schemas import ConversationBody

log = get_logger(__name__)

HISTORY_TURNS = 3
"""Earlier turns a rewrite sees (the most recent ones)."""
HISTORY_PAGE_SIZE = 1000
HISTORY_PAGES = 5
"""Session events read at most (pages of :data:`HISTORY_PAGE_SIZE`) to find the last turns."""
CARRIED_TERMS = 8
"""Content terms of the previous turn appended to a follow-up at most (no LLM)."""
REWRITE_TIMEOUT_S = 10.0
"""Upper bound of a rewrite call, seconds (``LLM_TIMEOUT_S`` when that is shorter)."""
ANSWER_CHARS = 1000
"""Characters of each earlier answer the rewrite prompt shows."""
QUERY_MAX_CHARS = 4096
"""Longest search query (``SearchRequest.query``)."""
REWRITE_PROMPT = (
    "Rewrite the user's follow-up question as one standalone question that can be "
    "understood without the conversation, in the user's language. Reply with the "
    "question only, without quotes or explanations."
)


@dataclass(frozen=True)
class Turn:
    """An earlier question, its answer, and the query its retrieval searched (if known)."""

    question: str
    answer: str = ""
    query: str | None = None


async def session_turns(
    backends: Backends, session_id: str, request_id: str
) -> tuple[list[Turn], str | None]:
    """The last :data:`HISTORY_TURNS` answered turns of a session, oldest first.

    Returns:
        ``(turns, reason)``: a session nobody has seen yet (or not the caller's) has no
        turns and no reason; an unreadable history has none and
        ``session_history_unavailable``.
    """
    turns: list[Turn] = []
    after: str | None = None
    try:
        for _ in range(HISTORY_PAGES):
            page = await session_history(
                backends, session_id, request_id, limit=HISTORY_PAGE_SIZE, after=after
            )
            turns += [
                turn_of(i.payload) for i in page.interactions if i.event_type == "answer.completed"
            ]
            if page.next_cursor is None:
                break
            after = page.next_cursor
    except NotFoundError:
        return [], None
    except GatewayError as exc:
        log.warning("answer.session_history_unavailable", reason=type(exc).__name__)
        return [], "session_history_unavailable"
    return turns[-HISTORY_TURNS:], None


def turn_of(payload: dict[str, object]) -> Turn:
    """A :class:`Turn` from an ``answer.completed`` payload (missing fields: empty)."""
    query = payload.get("search_query")
    return Turn(
        question=str(payload.get("question") or ""),
        answer=str(payload.get("answer") or ""),
        query=query if isinstance(query, str) and query else None,
    )


def carry_terms(question: str, previous: str, limit: int = CARRIED_TERMS) -> str:
    """Append ``previous``' content words that ``question`` lacks (pure).

    Args:
        question: the follow-up.
        previous: the previous turn's search query or question.
        limit: most words appended.

    Returns:
        ``question``, then a space and the carried words in their order in ``previous``
        (stop words, repeats and words whose stem ``question`` has are skipped); at most
        :data:`QUERY_MAX_CHARS` characters. ``question`` itself when nothing is carried.
    """
    have = terms(question)
    carried: list[str] = []
    for word in words(previous):
        if len(carried) == limit:
            break
        if word in STOP_WORDS or stem(word) in have:
            continue
        have.add(stem(word))
        carried.append(word)
    if not carried:
        return question
    return f"{question} {' '.join(carried)}"[:QUERY_MAX_CHARS]


def rewrite_messages(turns: list[Turn], question: str) -> list[ChatCompletionMessageParam]:
    """The rewrite request: the rules, then the earlier turns and the follow-up."""
    shown = [f"User: {t.question}\nAssistant: {t.answer[:ANSWER_CHARS]}" for t in turns]
    user = "Conversation:\n\n" + "\n\n".join(shown) + f"\n\nFollow-up question: {question}"
    return [{"role": "system", "content": REWRITE_PROMPT}, {"role": "user", "content": user}]


async def rewrite(
    llm: LlmClient, turns: list[Turn], question: str
) -> tuple[str | None, str | None]:
    """Ask the LLM for a standalone version of ``question``.

    Returns:
        ``(query, None)``, or ``(None, reason)`` when the call failed, timed out
        (:data:`REWRITE_TIMEOUT_S`) or answered nothing usable.
    """
    try:
        async with asyncio.timeout(min(llm.timeout_s, REWRITE_TIMEOUT_S)):
            parts = [p async for p in llm.stream(rewrite_messages(turns, question), Usage())]
    except Exception as exc:
        reason = "rewrite_" + fallback_reason(exc)
        log.warning("answer.rewrite_failed", reason=reason)
        return None, reason
    lines = [line.strip().strip("\"'") for line in "".join(parts).splitlines()]
    query = next((line for line in lines if line), "")[:QUERY_MAX_CHARS]
    return (query, None) if query else (None, "rewrite_llm_malformed_reply")


async def standalone_query(
    llm: LlmClient | None, question: str, turns: list[Turn], reason: str | None
) -> tuple[str, ConversationBody]:
    """The query to search for ``question`` given its earlier ``turns``.

    Args:
        llm: the LLM client, or ``None`` (terms are carried instead).
        question: the follow-up as asked.
        turns: earlier turns, oldest first (maybe empty).
        reason: why the turns could not be read, if so.

    Returns:
        ``(query, conversation)``: the query and how it was made.
    """
    if not turns:
        return question, ConversationBody(turns=0, reason=reason)
    if llm is not None:
        query, failed = await rewrite(llm, turns, question)
        if query is None:
            return question, ConversationBody(turns=len(turns), reason=failed)
        return query, ConversationBody(turns=len(turns), method="llm_rewrite")
    last = turns[-1]
    query = carry_terms(question, last.query or last.question)
    method = "carried_terms" if query != question else None
    return query, ConversationBody(turns=len(turns), method=method)


def message_turns(messages: Sequence[tuple[str, str]]) -> list[Turn]:
    """Turns from chat messages ``(role, content)``: each user message with the reply after it.

    System, developer and tool messages are skipped; the last :data:`HISTORY_TURNS` turns
    are kept.
    """
    turns: list[Turn] = []
    for role, content in messages:
        if role == "user":
            turns.append(Turn(question=content))
        elif role == "assistant" and turns and not turns[-1].answer:
            turns[-1] = Turn(question=turns[-1].question, answer=content)
    return turns[-HISTORY_TURNS:]
