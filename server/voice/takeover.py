"""One voice session's side of the operator takeover: its mode, and the commands that change it.

``TakeoverControl`` is the session's ``TurnGate``: the conversation asks it who answers
and tells it every turn, which it reports to the operator hub. It reads this session's
operator commands from the bus in one owned task and confirms each once applied.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from server.brain.brain import BrainReply
from server.brain.policy import Decision
from server.brain.signals import read_signals
from server.operator.bus import Subscription
from server.operator.commands import (
    Approve,
    Dispatch,
    Edit,
    HandBack,
    OperatorCommand,
    Reject,
    Say,
    SetMode,
    TakeOver,
)
from server.operator.errors import OperatorError, UnknownDraft, WrongMode
from server.operator.hub import SessionReport
from server.operator.queue import QueueReason, queue_reason
from server.operator.states import AuditSink, ModeMachine, SessionMode
from server.voice.conversation import ConversationStage

log = logging.getLogger(__name__)

_SPEAKING_MODES = (SessionMode.HUMAN, SessionMode.ASSIST)


class TakeoverControl:
    """The mode machine of one session, driven by the Brain's hand-offs and operator commands."""

    def __init__(
        self,
        conversation: ConversationStage,
        report: SessionReport,
        audit: AuditSink,
        *,
        disclose_human: bool,
        end_session: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._conversation = conversation
        self._end_session = end_session
        self._report = report
        self._machine = ModeMachine(report.session_id, audit)
        self._disclose = disclose_human
        self._drafts: dict[str, BrainReply] = {}
        self._task: asyncio.Task[None] | None = None
        conversation.gate = self

    @property
    def mode(self) -> SessionMode:
        return self._machine.mode

    def start(self) -> None:
        subscription = self._report.subscribe()
        self._task = asyncio.create_task(self._consume(subscription), name="takeover-commands")

    async def close(self, why: str = "session ended") -> None:
        """Stop reading commands, mark the session closed (audited) and tell the hub."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            if self._machine.can(SessionMode.CLOSED):
                await asyncio.to_thread(self._machine.move, SessionMode.CLOSED, why=why)
        finally:
            self._report.closed()

    # ------------------------------------------------------------------ TurnGate
    async def customer_said(self, seq: int, masked: str) -> None:
        self._report.turn(seq, "customer", masked)
        if self.mode is SessionMode.BOT and read_signals(masked).negative:
            self._report.flag("negative")
            await self._report.call_operator(QueueReason.NEGATIVE_SENTIMENT)

    async def bot_said(self, seq: int, reply: BrainReply, speaker: str = "bot") -> None:
        self._report.turn(
            seq, speaker, reply.text, decision=reply.decision.value, confidence=reply.confidence
        )
        if reply.decision is Decision.HANDOFF and self.mode is SessionMode.BOT:
            await self._report.call_operator(queue_reason(reply.reason))

    def operator_said(self, seq: int, masked: str) -> None:
        self._report.turn(seq, "operator", masked)

    def hold_draft(self, reply: BrainReply) -> None:
        draft_id = uuid.uuid4().hex[:12]
        self._drafts[draft_id] = reply
        self._report.draft(draft_id, reply.text)

    # ------------------------------------------------------------------ commands
    async def _consume(self, subscription: Subscription) -> None:
        async with subscription:
            async for dispatch in subscription:
                await self._handle(dispatch)

    async def _handle(self, dispatch: Dispatch) -> None:
        command = dispatch.command
        try:
            await self._apply(dispatch.operator, command)
        except OperatorError as exc:
            self._report.confirm(command.client_msg_id, exc)
            return
        except Exception as exc:
            log.exception("operator command failed", extra={"session_id": self._report.session_id})
            self._report.confirm(
                command.client_msg_id, OperatorError(f"the session failed: {type(exc).__name__}")
            )
            return
        self._report.confirm(command.client_msg_id)
        if self.mode is SessionMode.CLOSED and self._end_session is not None:
            await self._end_session()  # an operator closed it: the customer's call ends too

    async def _apply(self, operator: str, command: OperatorCommand) -> None:
        if isinstance(command, TakeOver):
            await self._move(SessionMode.HUMAN, operator, "take over")
        elif isinstance(command, HandBack):
            await self._move(SessionMode.BOT, operator, "hand back")
        elif isinstance(command, SetMode):
            await self._move(command.mode, operator, f"set mode {command.mode.value}")
        elif isinstance(command, Say):
            if self.mode not in _SPEAKING_MODES:
                raise WrongMode("take the session over (or switch to assist) before speaking")
            await self._conversation.say_as_operator(command.text)
        elif isinstance(command, (Approve, Edit, Reject)):
            await self._settle_draft(command)

    async def _settle_draft(self, command: Approve | Edit | Reject) -> None:
        reply = self._drafts.pop(command.draft_id, None)
        if reply is None:
            raise UnknownDraft(f"no pending draft {command.draft_id!r}")
        if isinstance(command, Reject):
            self._conversation.drop_draft(reply)
            return
        await self._conversation.speak_draft(reply, command.text if isinstance(command, Edit) else None)

    async def _move(self, mode: SessionMode, operator: str, why: str) -> None:
        transition = await asyncio.to_thread(self._machine.move, mode, actor=operator, why=why)
        if mode in (SessionMode.HUMAN, SessionMode.CLOSED):
            await self._conversation.cut()  # the bot stops mid-sentence
        if mode is not SessionMode.ASSIST:
            for draft in self._drafts.values():  # drafts nobody approved were never said
                self._conversation.drop_draft(draft)
            self._drafts.clear()
        self._report.mode_changed(transition)
        await self._conversation.notify(mode.value, self._notice(mode, operator))

    def _notice(self, mode: SessionMode, operator: str) -> str | None:
        if mode is SessionMode.CLOSED:
            return "This conversation has been closed. Thank you for contacting us."
        if not self._disclose:
            return None
        if mode is SessionMode.HUMAN:
            return f"You are now talking with {operator}."
        if mode is SessionMode.BOT:
            return "You are back with the digital teller."
        return None
