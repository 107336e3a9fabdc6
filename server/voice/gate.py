"""The seam between a session's conversation and the operator takeover: the turn gate.

``ConversationStage`` gets its gate at construction. It asks the gate who answers (the
session's mode) and tells it every turn it records. ``TakeoverGate`` is the gate of a session
an operator hub can take over: it holds the mode machine, reports every turn to the hub and
keeps the Brain's drafts in ASSIST mode until an operator settles them.
``server.voice.takeover.TakeoverControl`` moves its mode and settles its drafts. ``OpenGate``
is the gate of a session without a hub: the Brain always answers, nothing is reported.

Neither the conversation nor the control holds the other's back-reference: both hold the gate,
and the control holds the conversation.
"""

from __future__ import annotations

import uuid
from typing import Literal, Protocol

from server.brain.brain import BrainReply
from server.brain.pii import MaskedText
from server.brain.policy import Decision
from server.brain.signals import read_signals
from server.operator.queue import QueueReason, queue_reason
from server.operator.report import SessionReport
from server.operator.states import ModeMachine, SessionMode

ReplySpeaker = Literal["bot", "operator"]


class TurnGate(Protocol):
    @property
    def mode(self) -> SessionMode: ...

    async def customer_said(self, seq: int, masked: MaskedText) -> None: ...

    async def bot_said(self, seq: int, reply: BrainReply, speaker: ReplySpeaker = "bot") -> None: ...

    def operator_said(self, seq: int, masked: MaskedText) -> None: ...

    def hold_draft(self, reply: BrainReply) -> None: ...


class OpenGate:
    """Always BOT; reports nothing."""

    @property
    def mode(self) -> SessionMode:
        return SessionMode.BOT

    async def customer_said(self, seq: int, masked: MaskedText) -> None:
        return None

    async def bot_said(self, seq: int, reply: BrainReply, speaker: ReplySpeaker = "bot") -> None:
        return None

    def operator_said(self, seq: int, masked: MaskedText) -> None:
        return None

    def hold_draft(self, reply: BrainReply) -> None:
        raise RuntimeError("an open gate never holds drafts: it is always in BOT mode")


class TakeoverGate:
    """The mode of a session the hub can take over, its report to the hub, and its pending drafts."""

    def __init__(self, report: SessionReport, machine: ModeMachine) -> None:
        self.report = report
        self.machine = machine
        self._drafts: dict[str, BrainReply] = {}

    @property
    def mode(self) -> SessionMode:
        return self.machine.mode

    async def customer_said(self, seq: int, masked: MaskedText) -> None:
        self.report.turn(seq, "customer", masked)
        if self.mode is SessionMode.BOT and read_signals(masked).negative:
            self.report.flag("negative")
            await self.report.call_operator(QueueReason.NEGATIVE_SENTIMENT)

    async def bot_said(self, seq: int, reply: BrainReply, speaker: ReplySpeaker = "bot") -> None:
        self.report.turn(seq, speaker, reply.text, decision=reply.decision.value, confidence=reply.confidence)
        if reply.decision is Decision.HANDOFF and self.mode is SessionMode.BOT:
            await self.report.call_operator(queue_reason(reply.reason))

    def operator_said(self, seq: int, masked: MaskedText) -> None:
        self.report.turn(seq, "operator", masked)

    def hold_draft(self, reply: BrainReply) -> None:
        """An ASSIST-mode reply waits for an operator; the consoles see it as a draft."""
        draft_id = uuid.uuid4().hex[:12]
        self._drafts[draft_id] = reply
        self.report.draft(draft_id, reply.text)

    def take_draft(self, draft_id: str) -> BrainReply | None:
        """The pending draft ``draft_id`` (no longer pending), or None if there is none."""
        return self._drafts.pop(draft_id, None)

    def drop_drafts(self) -> list[BrainReply]:
        """Every pending draft, none pending any more (the mode left ASSIST)."""
        drafts = list(self._drafts.values())
        self._drafts.clear()
        return drafts
