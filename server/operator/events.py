"""Server → console events of the operator protocol, one JSON object each."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from server.operator.brief import HandoffBrief
from server.operator.queue import QueueReason
from server.operator.states import SessionMode
from server.tickets.model import Ticket


class Message(BaseModel):
    """Base of every protocol message: unknown fields are rejected, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SessionSummary(Message):
    session_id: str
    mode: SessionMode
    channel: str = "voice"
    claimed_by: str | None = None
    last_utterance: str = ""  # masked
    confidence: float | None = None  # of the last Brain decision
    flags: list[str] = Field(default_factory=list)  # e.g. queued, negative, low_confidence


class QueueItem(Message):
    session_id: str
    reason: QueueReason
    priority: int
    joined_at: datetime
    claimed_by: str | None = None


class TurnView(Message):
    seq: int
    speaker: str
    text: str  # masked
    decision: str | None = None


class SessionListEvent(Message):
    type: Literal["session_list"] = "session_list"
    sessions: list[SessionSummary]


class QueueEvent(Message):
    type: Literal["queue"] = "queue"
    entries: list[QueueItem]


class TranscriptEvent(Message):
    """New turns of a session; ``full`` when ``turns`` is the whole transcript (on watch)."""

    type: Literal["transcript"] = "transcript"
    session_id: str
    turns: list[TurnView]
    full: bool = False


class BriefEvent(Message):
    """The hand-off brief; ``ticket`` is the session's latest stored ticket, when there is one."""

    type: Literal["brief"] = "brief"
    session_id: str
    brief: HandoffBrief
    ticket: Ticket | None = None


class DraftEvent(Message):
    type: Literal["draft"] = "draft"
    session_id: str
    draft_id: str
    text: str


class ModeChangedEvent(Message):
    type: Literal["mode_changed"] = "mode_changed"
    session_id: str
    previous: SessionMode
    mode: SessionMode
    actor: str
    at: datetime


class ClosedEvent(Message):
    type: Literal["closed"] = "closed"
    session_id: str


class ErrorEvent(Message):
    type: Literal["error"] = "error"
    code: str
    message: str
    retryable: bool = False
    client_msg_id: str | None = None


class BusStatusEvent(Message):
    """Sent on connect and on every change: ``degraded`` while the operator bus cannot reach Redis
    (sessions on other workers may be missing or stale; their commands may fail with
    ``bus_unavailable``, and everything catches up once it is back)."""

    type: Literal["bus_status"] = "bus_status"
    degraded: bool


class AckEvent(Message):
    type: Literal["ack"] = "ack"
    client_msg_id: str


ConsoleEvent = Annotated[
    SessionListEvent
    | QueueEvent
    | TranscriptEvent
    | BriefEvent
    | DraftEvent
    | ModeChangedEvent
    | ClosedEvent
    | ErrorEvent
    | BusStatusEvent
    | AckEvent,
    Field(discriminator="type"),
]
CONSOLE_EVENT: TypeAdapter[ConsoleEvent] = TypeAdapter(ConsoleEvent)
