"""Both operator message streams are JSON that a bus between processes carries unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.operator.commands import Approve, Edit, HandBack, Reject, Say, SetMode, TakeOver, Unwatch, Watch
from server.operator.errors import OperatorError, WrongMode
from server.operator.messages import (
    DISPATCH,
    SESSION_MESSAGE,
    CommandApplied,
    CommandRefusal,
    Dispatch,
    DraftHeld,
    Flagged,
    ModeChanged,
    OperatorCalled,
    SessionClosed,
    SessionMessage,
    SessionOpened,
    TurnTaken,
)
from server.operator.queue import QueueReason
from server.operator.states import SessionMode, Transition

SID = "s1"
COMMANDS = [
    TakeOver(client_msg_id="a", session_id=SID),
    HandBack(client_msg_id="b", session_id=SID),
    Say(client_msg_id="c", session_id=SID, text="Hello, I can help with that."),
    Approve(client_msg_id="d", session_id=SID, draft_id="x1"),
    Edit(client_msg_id="e", session_id=SID, draft_id="x1", text="Edited."),
    Reject(client_msg_id="f", session_id=SID, draft_id="x1"),
    SetMode(client_msg_id="g", session_id=SID, mode=SessionMode.ASSIST),
    Watch(client_msg_id="h", session_id=SID),
    Unwatch(client_msg_id="i", session_id=SID),
]
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
REPORTS: list[SessionMessage] = [
    SessionOpened(session_id=SID, channel="webrtc"),
    TurnTaken(
        session_id=SID, seq=3, speaker="bot", text="It arrives in 5 days.", decision="answer", confidence=0.9
    ),
    ModeChanged.of(Transition(SID, SessionMode.BOT, SessionMode.HUMAN, "olga", "take over", AT)),
    OperatorCalled(session_id=SID, reason=QueueReason.CUSTOMER_REQUEST),
    Flagged(session_id=SID, flag="negative"),
    DraftHeld(session_id=SID, draft_id="x1", text="A draft."),
    CommandApplied(session_id=SID, client_msg_id="c"),
    CommandApplied(session_id=SID, client_msg_id="c", refusal=CommandRefusal.of(WrongMode("take over"))),
    SessionClosed(session_id=SID),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.type)
def test_every_command_crosses_as_json(command: object) -> None:
    dispatch = Dispatch(operator="olga", command=command)  # type: ignore[arg-type]
    assert DISPATCH.validate_json(dispatch.model_dump_json()) == dispatch


@pytest.mark.parametrize("message", REPORTS, ids=lambda m: m.type)
def test_every_session_message_crosses_as_json(message: SessionMessage) -> None:
    assert SESSION_MESSAGE.validate_json(SESSION_MESSAGE.dump_json(message)) == message


def test_a_refusal_keeps_its_code_and_retryable_flag() -> None:
    class Busy(OperatorError):
        code = "busy"
        retryable = True

    error = CommandRefusal.of(Busy("try again")).error()
    assert (error.code, error.retryable, str(error)) == ("busy", True, "try again")
    assert isinstance(error, OperatorError)
