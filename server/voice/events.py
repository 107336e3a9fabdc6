"""The event protocol between a customer page and its session (data channel or websocket).

Every message is one JSON object with a ``type``. Server → client events are
the ``*Event`` models; client → server messages are ``ClientMessage``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_CLIENT_MESSAGE_BYTES = 4_096


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionEvent(_Event):
    """The session's mode (bot, assist, human, closed); ``notice`` is shown to the customer."""

    type: Literal["session"] = "session"
    session_id: str
    state: str
    notice: str | None = None


class TranscriptEvent(_Event):
    """What the customer said (masked), once the turn is final."""

    type: Literal["transcript"] = "transcript"
    text: str
    final: bool = True


class BotTextEvent(_Event):
    """The reply the avatar is about to speak: the subtitles."""

    type: Literal["bot_text"] = "bot_text"
    text: str
    decision: str
    speaker: Literal["bot", "operator"] = "bot"
    citations: list[dict[str, Any]] = Field(default_factory=list)


class HistoryLine(_Event):
    speaker: Literal["customer", "bot", "operator"]
    text: str  # masked, as stored


class HistoryEvent(_Event):
    """The conversation so far, oldest first, when a session is picked up again (the page lost its
    connection and resumed, perhaps on another worker): the page shows it instead of its own log."""

    type: Literal["history"] = "history"
    lines: list[HistoryLine]


class StateEvent(_Event):
    type: Literal["state"] = "state"
    avatar: Literal["idle", "listening", "thinking", "speaking"]


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    code: str
    message: str
    retryable: bool = False


class TextMessage(_Event):
    type: Literal["text"]
    text: Annotated[str, Field(min_length=1, max_length=1000)]


class HumanMessage(_Event):
    type: Literal["human"]


class FeedbackMessage(_Event):
    type: Literal["feedback"]
    rating: Literal["up", "down"]


class SpeechRateMessage(_Event):
    type: Literal["speech_rate"]
    slow: bool


ClientMessage = Annotated[
    TextMessage | HumanMessage | FeedbackMessage | SpeechRateMessage, Field(discriminator="type")
]
_CLIENT = TypeAdapter(ClientMessage)


class BadClientMessage(ValueError):
    """A client message that is too big, not JSON, or not one of the known types."""


def parse_client_message(raw: object) -> TextMessage | HumanMessage | FeedbackMessage | SpeechRateMessage:
    if isinstance(raw, (str, bytes)):
        if len(raw) > MAX_CLIENT_MESSAGE_BYTES:
            raise BadClientMessage(f"message over {MAX_CLIENT_MESSAGE_BYTES} bytes")
        try:
            return _CLIENT.validate_json(raw)
        except ValidationError as exc:
            raise BadClientMessage(_first_problem(exc)) from exc
    try:
        return _CLIENT.validate_python(raw)
    except ValidationError as exc:
        raise BadClientMessage(_first_problem(exc)) from exc


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))
