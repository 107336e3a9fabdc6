"""The seam between a session's conversation and the operator takeover.

``ConversationStage`` asks its gate who answers (the session's mode) and tells it every
turn; ``server.voice.takeover.TakeoverControl`` is the real gate, ``OpenGate`` the one
for sessions with no operator hub (the Brain always answers, nothing is reported).
"""

from __future__ import annotations

from typing import Protocol

from server.brain.brain import BrainReply
from server.operator.states import SessionMode


class TurnGate(Protocol):
    @property
    def mode(self) -> SessionMode: ...

    async def customer_said(self, seq: int, masked: str) -> None: ...

    async def bot_said(self, seq: int, reply: BrainReply, speaker: str = "bot") -> None: ...

    def operator_said(self, seq: int, masked: str) -> None: ...

    def hold_draft(self, reply: BrainReply) -> None: ...


class OpenGate:
    """Always BOT; reports nothing."""

    @property
    def mode(self) -> SessionMode:
        return SessionMode.BOT

    async def customer_said(self, seq: int, masked: str) -> None:
        return None

    async def bot_said(self, seq: int, reply: BrainReply, speaker: str = "bot") -> None:
        return None

    def operator_said(self, seq: int, masked: str) -> None:
        return None

    def hold_draft(self, reply: BrainReply) -> None:
        raise RuntimeError("an open gate never holds drafts: it is always in BOT mode")
