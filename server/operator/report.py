"""The session side of the operator bus: what one live session tells the hubs, and its commands."""

from __future__ import annotations

import logging
from collections import OrderedDict
from types import TracebackType

from server.operator.bus import MessageSubscription, OperatorBus
from server.operator.errors import OperatorError
from server.operator.messages import (
    CommandApplied,
    CommandRefusal,
    Dispatch,
    DraftHeld,
    Flagged,
    ModeChanged,
    OperatorCalled,
    SessionClosed,
    SessionOpened,
    TurnTaken,
)
from server.operator.queue import QueueReason
from server.operator.states import SessionMode, Transition

log = logging.getLogger(__name__)

APPLIED_MEMORY = 1_024  # client_msg_ids of the commands a session applied, newest kept


class SessionReport:
    """Publishes one session's messages on the report stream; ``subscribe`` reads its commands."""

    def __init__(self, bus: OperatorBus, session_id: str) -> None:
        self._bus = bus
        self.session_id = session_id
        self._applied: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def open(
        cls,
        bus: OperatorBus,
        session_id: str,
        channel: str,
        *,
        mode: SessionMode = SessionMode.BOT,
        claimed_by: str | None = None,
    ) -> SessionReport:
        """Announce a live session to every hub: a new one, or one picked up again in ``mode``,
        held by ``claimed_by``."""
        report = cls(bus, session_id)
        opened = SessionOpened(session_id=session_id, channel=channel, mode=mode, claimed_by=claimed_by)
        bus.reports.publish(opened)
        return report

    def turn(
        self,
        seq: int,
        speaker: str,
        text: str,
        *,
        decision: str | None = None,
        confidence: float | None = None,
    ) -> None:
        self._bus.reports.publish(
            TurnTaken(
                session_id=self.session_id,
                seq=seq,
                speaker=speaker,
                text=text,
                decision=decision,
                confidence=confidence,
            )
        )

    def mode_changed(self, transition: Transition) -> None:
        self._bus.reports.publish(ModeChanged.of(transition))

    async def call_operator(self, reason: QueueReason) -> None:
        """Join the operator queue; the hubs build the hand-off brief from the stored transcript."""
        self._bus.reports.publish(OperatorCalled(session_id=self.session_id, reason=reason))

    def flag(self, flag: str) -> None:
        self._bus.reports.publish(Flagged(session_id=self.session_id, flag=flag))

    def draft(self, draft_id: str, text: str) -> None:
        self._bus.reports.publish(DraftHeld(session_id=self.session_id, draft_id=draft_id, text=text))

    def confirm(self, client_msg_id: str, error: OperatorError | None = None) -> None:
        """The command ``client_msg_id`` was applied (or refused with ``error``): its sender may ack."""
        refusal = CommandRefusal.of(error) if error is not None else None
        if refusal is None:
            self._applied[client_msg_id] = None
            self._applied.move_to_end(client_msg_id)
            while len(self._applied) > APPLIED_MEMORY:
                self._applied.popitem(last=False)
        self._bus.reports.publish(
            CommandApplied(session_id=self.session_id, client_msg_id=client_msg_id, refusal=refusal)
        )

    def closed(self) -> None:
        self._bus.reports.publish(SessionClosed(session_id=self.session_id))

    def subscribe(self) -> MessageSubscription[Dispatch]:
        """The session's commands, each applied once: a resend of one it applied (its sender timed
        out waiting) is confirmed again instead of being returned."""
        return _AppliedOnce(self._bus.commands.subscribe(self.session_id), self)

    def reconfirm(self, dispatch: Dispatch) -> bool:
        """True (and the command is confirmed again) when this session already applied it."""
        client_msg_id = dispatch.command.client_msg_id
        if client_msg_id not in self._applied:
            return False
        log.info("operator command %s was applied before; confirming it again", client_msg_id)
        self._bus.reports.publish(CommandApplied(session_id=self.session_id, client_msg_id=client_msg_id))
        return True


class _AppliedOnce:
    """A session's command subscription without the resends of commands it already applied."""

    def __init__(self, commands: MessageSubscription[Dispatch], report: SessionReport) -> None:
        self.commands = commands
        self._report = report

    def __aiter__(self) -> _AppliedOnce:
        return self

    async def __anext__(self) -> Dispatch:
        while True:
            dispatch = await anext(self.commands)
            if not self._report.reconfirm(dispatch):
                return dispatch

    async def __aenter__(self) -> _AppliedOnce:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.commands.aclose()
