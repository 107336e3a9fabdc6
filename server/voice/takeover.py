"""One voice session's side of the operator takeover: the commands that change its mode, and
the operator's voice.

``TakeoverControl`` reads this session's operator commands from the bus in one owned task,
applies each and confirms it once applied. It moves the mode of the session's
``TakeoverGate`` (``server.voice.gate``), settles the drafts the gate holds, and speaks for
the operator through the conversation's narrow ``OperatorVoice`` calls. An operator's line
enters the session here: it is masked once, the Brain hears it (``Brain.hear``), and the
conversation records and speaks the masked line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from pydantic import BaseModel

from server.brain.brain import Brain, BrainReply
from server.brain.memory import Speaker
from server.brain.pii import MaskedText, mask_pii
from server.operator import Dispatch, MessageSubscription
from server.operator.commands import (
    Approve,
    Edit,
    HandBack,
    OperatorCommand,
    Reject,
    Say,
    SetMode,
    TakeOver,
)
from server.operator.errors import LineNotSaved, OperatorError, UnknownDraft, WrongMode
from server.operator.states import SessionMode
from server.store.retry import StoreUnavailable
from server.tasks import cancel_and_wait
from server.voice.events import SessionEvent
from server.voice.gate import ReplySpeaker, TakeoverGate

log = logging.getLogger(__name__)

_SPEAKING_MODES = (SessionMode.HUMAN, SessionMode.ASSIST)


class OperatorVoice(Protocol):
    """What the control needs of the conversation (``ConversationStage``) to speak for the operator."""

    @property
    def session_id(self) -> str: ...

    async def speak_line(self, line: MaskedText, *, operator: str | None = None) -> int: ...

    async def reply(
        self, reply: BrainReply, *, speaker: ReplySpeaker = "bot", operator: str | None = None
    ) -> None: ...

    async def interrupt(self) -> None: ...

    async def send_event(self, event: BaseModel) -> None: ...


class TakeoverControl:
    """Applies operator commands to one session: mode moves, the operator's lines, drafts."""

    def __init__(
        self,
        conversation: OperatorVoice,
        gate: TakeoverGate,
        brain: Brain,
        *,
        disclose_human: bool,
        end_session: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._conversation = conversation
        self._gate = gate
        self._brain = brain
        self._session_id = conversation.session_id
        self._disclose = disclose_human
        self._end_session = end_session
        self._task: asyncio.Task[None] | None = None

    @property
    def mode(self) -> SessionMode:
        return self._gate.mode

    def start(self) -> None:
        subscription = self._gate.report.subscribe()
        self._task = asyncio.create_task(self._consume(subscription), name="takeover-commands")

    async def close(self, why: str = "session ended") -> None:
        """Stop reading commands, mark the session closed (audited) and tell the hub."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        try:
            if self._gate.machine.can(SessionMode.CLOSED):
                await asyncio.to_thread(self._gate.machine.move, SessionMode.CLOSED, why=why)
        except StoreUnavailable:  # the session ends all the same; only its audit record is missing
            log.error("the session's end could not be audited", extra={"session_id": self._session_id})
        finally:
            self._gate.report.closed()

    # ------------------------------------------------------------------ commands
    async def _consume(self, subscription: MessageSubscription[Dispatch]) -> None:
        async with subscription:
            async for dispatch in subscription:
                await self._handle(dispatch)

    async def _handle(self, dispatch: Dispatch) -> None:
        command = dispatch.command
        report = self._gate.report
        try:
            await self._apply(dispatch.operator, command)
        except OperatorError as exc:
            report.confirm(command.client_msg_id, exc)
            return
        except StoreUnavailable:
            refusal = LineNotSaved("the records are unavailable: nothing was saved or said; try again")
            report.confirm(command.client_msg_id, refusal)
            return
        except Exception as exc:
            log.exception("operator command failed", extra={"session_id": self._session_id})
            report.confirm(command.client_msg_id, OperatorError(f"the session failed: {type(exc).__name__}"))
            return
        report.confirm(command.client_msg_id)
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
            await self._say(command.text, operator)
        elif isinstance(command, (Approve, Edit, Reject)):
            await self._settle_draft(command, operator)

    async def _say(self, text: str, operator: str) -> None:
        """The operator's line: masked once, committed (with who said it) and spoken, heard by the Brain."""
        line = mask_pii(text)
        await self._conversation.speak_line(line, operator=operator)
        self._brain.hear(self._session_id, Speaker.OPERATOR, line)

    async def _settle_draft(self, command: Approve | Edit | Reject, operator: str) -> None:
        draft = self._gate.take_draft(command.draft_id)
        if draft is None:
            raise UnknownDraft(f"no pending draft {command.draft_id!r}")
        if isinstance(command, Approve):
            await self._conversation.reply(draft, operator=operator)
        elif isinstance(command, Edit):  # the operator's words instead of the draft's
            line = mask_pii(command.text)
            self._brain.hear(self._session_id, Speaker.OPERATOR, line, instead_of=draft)
            await self._conversation.reply(replace(draft, text=line), speaker="operator", operator=operator)
        else:
            self._unsaid(draft)

    def _unsaid(self, draft: BrainReply) -> None:
        """A draft nobody approved was never said: the Brain forgets it."""
        self._brain.hear(self._session_id, Speaker.OPERATOR, None, instead_of=draft)

    async def _move(self, mode: SessionMode, operator: str, why: str) -> None:
        transition = await asyncio.to_thread(self._gate.machine.move, mode, actor=operator, why=why)
        if mode in (SessionMode.HUMAN, SessionMode.CLOSED):
            await self._conversation.interrupt()  # the bot stops mid-sentence
        if mode is not SessionMode.ASSIST:
            for draft in self._gate.drop_drafts():
                self._unsaid(draft)
        self._gate.report.mode_changed(transition)
        notice = self._notice(mode, operator)
        await self._conversation.send_event(
            SessionEvent(session_id=self._session_id, state=mode.value, notice=notice)
        )

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
