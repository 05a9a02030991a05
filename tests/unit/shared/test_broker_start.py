"""Which start-up failures ``lectern.broker_start`` repeats, and which it raises at once."""

from __future__ import annotations

import aiormq.exceptions
import pytest

from lectern.broker_start import is_transient_start_error


@pytest.mark.parametrize(
    "error",
    [
        aiormq.exceptions.ConnectionInternalError("INTERNAL_ERROR"),
        aiormq.exceptions.ConnectionResourceError("RESOURCE_ERROR"),
        aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED - broker forced connection"),
        aiormq.exceptions.ChannelInvalidStateError("<Connection> closed"),
        ConnectionResetError(104, "Connection reset by peer"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=type,
)
def test_a_starting_or_restarting_broker_is_waited_for(error: BaseException) -> None:
    assert is_transient_start_error(error)


@pytest.mark.parametrize(
    "error",
    [
        aiormq.exceptions.ChannelPreconditionFailed("PRECONDITION_FAILED - inequivalent arg"),
        aiormq.exceptions.ChannelAccessRefused("ACCESS_REFUSED"),
        aiormq.exceptions.ChannelNotFoundEntity("NOT_FOUND - no queue"),
        aiormq.exceptions.ConnectionNotAllowed("NOT_ALLOWED - vhost not found"),
        aiormq.exceptions.ConnectionClosed(403, "ACCESS_REFUSED - Login was refused"),
        aiormq.exceptions.ConnectionSyntaxError("SYNTAX_ERROR"),
        ValueError("a bug"),
    ],
    ids=lambda error: f"{type(error).__name__}:{error.args[0]}",
)
def test_a_refusal_is_raised_at_once(error: BaseException) -> None:
    assert not is_transient_start_error(error)
