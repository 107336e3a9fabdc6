"""The operator console protocol: typed commands in, typed events out, one JSON object each.

Every command carries a ``client_msg_id``; ``IdempotencyLedger`` makes a resend (after a
reconnect) return the original ack instead of acting twice.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationError

from server.operator.errors import BadCommand
from server.operator.events import (
    CONSOLE_EVENT,
    AckEvent,
    BriefEvent,
    ClosedEvent,
    ConsoleEvent,
    DraftEvent,
    ErrorEvent,
    Message,
    ModeChangedEvent,
    QueueEvent,
    QueueItem,
    SessionListEvent,
    SessionSummary,
    TranscriptEvent,
    TurnView,
)
from server.operator.states import SessionMode

__all__ = [  # the whole console protocol: commands here, events re-exported from events.py
    "CONSOLE_EVENT",
    "MAX_COMMAND_BYTES",
    "MAX_SAY_CHARS",
    "AckEvent",
    "Approve",
    "BriefEvent",
    "ClosedEvent",
    "ConsoleEvent",
    "DraftEvent",
    "Edit",
    "ErrorEvent",
    "Executor",
    "HandBack",
    "IdempotencyLedger",
    "Message",
    "ModeChangedEvent",
    "OperatorCommand",
    "QueueEvent",
    "QueueItem",
    "Reject",
    "Say",
    "SessionListEvent",
    "SessionSummary",
    "SetMode",
    "TakeOver",
    "TranscriptEvent",
    "TurnView",
    "Unwatch",
    "Watch",
    "parse_command",
]

MAX_COMMAND_BYTES = 8_192
MAX_SAY_CHARS = 1_000
MsgId = Annotated[str, Field(min_length=1, max_length=64)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
SayText = Annotated[str, Field(min_length=1, max_length=MAX_SAY_CHARS)]


class _Command(Message):
    client_msg_id: MsgId
    session_id: Id


class TakeOver(_Command):
    type: Literal["take_over"] = "take_over"


class HandBack(_Command):
    type: Literal["hand_back"] = "hand_back"


class Say(_Command):
    type: Literal["say"] = "say"
    text: SayText


class Approve(_Command):
    type: Literal["approve"] = "approve"
    draft_id: Id


class Edit(_Command):
    type: Literal["edit"] = "edit"
    draft_id: Id
    text: SayText


class Reject(_Command):
    type: Literal["reject"] = "reject"
    draft_id: Id


class SetMode(_Command):
    type: Literal["set_mode"] = "set_mode"
    mode: SessionMode


class Watch(_Command):
    type: Literal["watch"] = "watch"


class Unwatch(_Command):
    type: Literal["unwatch"] = "unwatch"


OperatorCommand = Annotated[
    TakeOver | HandBack | Say | Approve | Edit | Reject | SetMode | Watch | Unwatch,
    Field(discriminator="type"),
]
_COMMAND: TypeAdapter[OperatorCommand] = TypeAdapter(OperatorCommand)


def parse_command(raw: str | bytes | dict[str, object]) -> OperatorCommand:
    """Validate one console message; ``BadCommand`` names the first problem."""
    try:
        if isinstance(raw, (str, bytes)):
            size = len(raw.encode() if isinstance(raw, str) else raw)
            if size > MAX_COMMAND_BYTES:
                raise BadCommand(f"command over {MAX_COMMAND_BYTES} bytes")
            return _COMMAND.validate_json(raw)
        return _COMMAND.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "message"
        raise BadCommand(f"{where}: {error['msg']}") from exc


Executor = Callable[[OperatorCommand], Awaitable[None]]


class IdempotencyLedger:
    """Remembers each operator's last ``per_operator`` acks (LRU), for at most ``max_operators``."""

    def __init__(self, *, per_operator: int = 256, max_operators: int = 1_024) -> None:
        self._per_operator = per_operator
        self._max_operators = max_operators
        self._acks: OrderedDict[str, OrderedDict[str, AckEvent]] = OrderedDict()
        self._running: dict[tuple[str, str], asyncio.Event] = {}

    def seen(self, operator_id: str, client_msg_id: str) -> AckEvent | None:
        acks = self._acks.get(operator_id)
        if acks is None or client_msg_id not in acks:
            return None
        self._acks.move_to_end(operator_id)
        acks.move_to_end(client_msg_id)
        return acks[client_msg_id]

    def record(self, operator_id: str, ack: AckEvent) -> None:
        acks = self._acks.setdefault(operator_id, OrderedDict())
        self._acks.move_to_end(operator_id)
        acks[ack.client_msg_id] = ack
        acks.move_to_end(ack.client_msg_id)
        while len(acks) > self._per_operator:
            acks.popitem(last=False)
        while len(self._acks) > self._max_operators:
            self._acks.popitem(last=False)

    async def execute(self, operator_id: str, command: OperatorCommand, executor: Executor) -> AckEvent:
        """Run ``command`` once per (operator, client_msg_id); a failed run is not remembered."""
        key = (operator_id, command.client_msg_id)
        while (running := self._running.get(key)) is not None:
            await running.wait()  # the same message is in flight: wait for its outcome
        if (ack := self.seen(*key)) is not None:
            return ack
        done = self._running[key] = asyncio.Event()
        try:
            await executor(command)
            ack = AckEvent(client_msg_id=command.client_msg_id)
            self.record(operator_id, ack)
            return ack
        finally:
            del self._running[key]
            done.set()
