from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from server.operator.brief import HandoffBrief
from server.operator.commands import (
    CONSOLE_EVENT,
    MAX_COMMAND_BYTES,
    AckEvent,
    Approve,
    BriefEvent,
    DraftEvent,
    Edit,
    ErrorEvent,
    HandBack,
    IdempotencyLedger,
    ModeChangedEvent,
    OperatorCommand,
    QueueEvent,
    QueueItem,
    Reject,
    Say,
    SessionListEvent,
    SessionSummary,
    SetMode,
    TakeOver,
    TranscriptEvent,
    TurnView,
    Unwatch,
    Watch,
    parse_command,
)
from server.operator.errors import BadCommand
from server.operator.queue import QueueReason
from server.operator.states import SessionMode

BASE = {"client_msg_id": "m1", "session_id": "s1"}
COMMANDS: list[OperatorCommand] = [
    TakeOver(**BASE),
    HandBack(**BASE),
    Say(**BASE, text="Hello, I'm Sam from the bank."),
    Approve(**BASE, draft_id="d1"),
    Edit(**BASE, draft_id="d1", text="Edited reply"),
    Reject(**BASE, draft_id="d1"),
    SetMode(**BASE, mode=SessionMode.ASSIST),
    Watch(**BASE),
    Unwatch(**BASE),
]
AT = datetime(2025, 3, 3, tzinfo=UTC)
EVENTS = [
    SessionListEvent(sessions=[SessionSummary(session_id="s1", mode=SessionMode.BOT)]),
    QueueEvent(entries=[QueueItem(session_id="s1", reason=QueueReason.URGENT, priority=0, joined_at=AT)]),
    TranscriptEvent(session_id="s1", turns=[TurnView(seq=1, speaker="customer", text="hi")]),
    BriefEvent(session_id="s1", brief=HandoffBrief(amounts=["£250"])),
    DraftEvent(session_id="s1", draft_id="d1", text="The fee is £5."),
    ModeChangedEvent(session_id="s1", previous=SessionMode.BOT, mode=SessionMode.HUMAN, actor="op", at=AT),
    ErrorEvent(code="claim_conflict", message="held by op-2", client_msg_id="m1"),
    AckEvent(client_msg_id="m1"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.type)
def test_command_round_trip(command: OperatorCommand) -> None:
    assert parse_command(command.model_dump_json()) == command
    assert parse_command(command.model_dump()) == command
    assert parse_command(command.model_dump_json().encode()) == command


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_event_round_trip(event: object) -> None:
    dumped = event.model_dump_json()  # type: ignore[attr-defined]
    assert CONSOLE_EVENT.validate_json(dumped) == event


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "launch_missiles", **BASE},
        {"type": "say", **BASE},  # no text
        {"type": "say", **BASE, "text": ""},
        {"type": "say", **BASE, "text": "x" * 1001},
        {"type": "say", "session_id": "s1", "text": "hi"},  # no client_msg_id
        {"type": "take_over", **BASE, "extra": 1},
        {"type": "set_mode", **BASE, "mode": "god"},
        {"type": "approve", **BASE, "draft_id": ""},
        {**BASE},
        "not json",
        json.dumps({"type": "say", **BASE, "text": "é" * 1000, "pad": "x" * MAX_COMMAND_BYTES}),
    ],
)
def test_bad_commands_are_rejected(raw: str | dict[str, object]) -> None:
    with pytest.raises(BadCommand) as info:
        parse_command(raw)
    assert info.value.retryable is False and info.value.code == "bad_command"


def test_longest_say_is_accepted() -> None:
    raw = json.dumps({"type": "say", **BASE, "text": "é" * 1000})
    assert parse_command(raw) == Say(**BASE, text="é" * 1000)


def test_oversized_message_names_the_limit() -> None:
    with pytest.raises(BadCommand, match=f"over {MAX_COMMAND_BYTES} bytes"):
        parse_command("x" * (MAX_COMMAND_BYTES + 1))


class Executor:
    def __init__(self, fail_first: bool = False, gate: asyncio.Event | None = None) -> None:
        self.calls: list[OperatorCommand] = []
        self.fail_first = fail_first
        self.gate = gate

    async def __call__(self, command: OperatorCommand) -> None:
        self.calls.append(command)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("tts down")


async def test_resent_say_executes_once() -> None:
    ledger, run = IdempotencyLedger(), Executor()
    say = Say(**BASE, text="One moment please")
    first = await ledger.execute("op-1", say, run)
    again = await ledger.execute("op-1", say, run)
    assert first == again == AckEvent(client_msg_id="m1")
    assert run.calls == [say]


async def test_ids_are_per_operator() -> None:
    ledger, run = IdempotencyLedger(), Executor()
    say = Say(**BASE, text="hi")
    await ledger.execute("op-1", say, run)
    await ledger.execute("op-2", say, run)
    assert len(run.calls) == 2


async def test_concurrent_resend_waits_for_the_first() -> None:
    gate = asyncio.Event()
    ledger, run = IdempotencyLedger(), Executor(gate=gate)
    say = Say(**BASE, text="hi")
    first = asyncio.create_task(ledger.execute("op-1", say, run))
    second = asyncio.create_task(ledger.execute("op-1", say, run))
    await asyncio.sleep(0)
    gate.set()
    assert await first == await second
    assert len(run.calls) == 1


async def test_failed_command_is_not_remembered() -> None:
    ledger, run = IdempotencyLedger(), Executor(fail_first=True)
    say = Say(**BASE, text="hi")
    with pytest.raises(RuntimeError):
        await ledger.execute("op-1", say, run)
    assert ledger.seen("op-1", "m1") is None
    assert await ledger.execute("op-1", say, run) == AckEvent(client_msg_id="m1")
    assert len(run.calls) == 2


def test_ledger_is_bounded_lru() -> None:
    ledger = IdempotencyLedger(per_operator=2, max_operators=2)
    for mid in ("a", "b"):
        ledger.record("op-1", AckEvent(client_msg_id=mid))
    assert ledger.seen("op-1", "a") is not None  # touch: "b" is now the oldest
    ledger.record("op-1", AckEvent(client_msg_id="c"))
    assert ledger.seen("op-1", "b") is None and ledger.seen("op-1", "a") is not None
    ledger.record("op-2", AckEvent(client_msg_id="x"))
    assert ledger.seen("op-1", "a") is not None  # touch op-1: op-2 is now the oldest operator
    ledger.record("op-3", AckEvent(client_msg_id="y"))
    assert ledger.seen("op-2", "x") is None
    assert ledger.seen("op-1", "a") is not None and ledger.seen("op-3", "y") is not None
