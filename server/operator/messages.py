"""The two message streams between operator consoles and live sessions, as typed JSON.

Console → session: ``Dispatch`` (one validated command and the operator who sent it).
Session → console: ``SessionMessage`` (a session opened or closed, a turn, a mode change,
a call for a person, a flag, a draft to approve, and the outcome of each command).
Every message is a pydantic model that serialises to one JSON object, so a bus between
processes (Redis) carries them unchanged; ``DISPATCH`` and ``SESSION_MESSAGE`` parse them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from server.operator.commands import OperatorCommand
from server.operator.errors import OperatorError
from server.operator.events import Message
from server.operator.queue import QueueReason
from server.operator.states import SessionMode, Transition


class Dispatch(Message):
    """A validated command on its way to the session, with the operator who sent it."""

    type: Literal["dispatch"] = "dispatch"
    operator: str
    command: OperatorCommand


class SessionOpened(Message):
    """A live session; one picked up again (its worker died, its customer reconnected) says the
    mode it resumed in and the operator who still holds it."""

    type: Literal["session_opened"] = "session_opened"
    session_id: str
    channel: str
    mode: SessionMode = SessionMode.BOT
    claimed_by: str | None = None


class SessionClosed(Message):
    type: Literal["session_closed"] = "session_closed"
    session_id: str


class TurnTaken(Message):
    """A line of the conversation, as stored (masked)."""

    type: Literal["turn"] = "turn"
    session_id: str
    seq: int
    speaker: str
    text: str
    decision: str | None = None
    confidence: float | None = None  # of the Brain's decision, on its replies


class ModeChanged(Message):
    type: Literal["mode_changed"] = "mode_changed"
    session_id: str
    previous: SessionMode
    mode: SessionMode
    actor: str
    why: str
    at: datetime

    @classmethod
    def of(cls, transition: Transition) -> ModeChanged:
        return cls(
            session_id=transition.session_id,
            previous=transition.previous,
            mode=transition.mode,
            actor=transition.actor,
            why=transition.why,
            at=transition.at,
        )


class OperatorCalled(Message):
    """The session wants a person: it joins the queue, and consoles get its hand-off brief."""

    type: Literal["operator_called"] = "operator_called"
    session_id: str
    reason: QueueReason


class Flagged(Message):
    type: Literal["flagged"] = "flagged"
    session_id: str
    flag: str


class DraftHeld(Message):
    """A Brain reply held for an operator's approval (ASSIST mode)."""

    type: Literal["draft"] = "draft"
    session_id: str
    draft_id: str
    text: str


class CommandRefusal(Message):
    code: str
    message: str
    retryable: bool = False

    @classmethod
    def of(cls, error: OperatorError) -> CommandRefusal:
        return cls(code=error.code, message=str(error), retryable=error.retryable)

    def error(self) -> OperatorError:
        return RefusedCommand(self.code, self.message, retryable=self.retryable)


class CommandApplied(Message):
    """The outcome of one command: applied (``refusal`` is None) or refused, once the session knows."""

    type: Literal["command_applied"] = "command_applied"
    session_id: str
    client_msg_id: str
    refusal: CommandRefusal | None = None


class RefusedCommand(OperatorError):
    """A session's refusal of a command, as it came back over the bus (code and retryable kept)."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


SessionMessage = Annotated[
    SessionOpened
    | SessionClosed
    | TurnTaken
    | ModeChanged
    | OperatorCalled
    | Flagged
    | DraftHeld
    | CommandApplied,
    Field(discriminator="type"),
]
SESSION_MESSAGE: TypeAdapter[SessionMessage] = TypeAdapter(SessionMessage)
DISPATCH: TypeAdapter[Dispatch] = TypeAdapter(Dispatch)
