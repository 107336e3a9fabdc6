"""A fake live session for the many-worker tests: no pipeline, no customer, only the operator seam."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from server.operator.bus import OperatorBus
from server.operator.commands import HandBack, TakeOver
from server.operator.messages import Dispatch
from server.operator.redis_bus import RedisOperatorBus
from server.operator.report import SessionReport
from server.operator.states import SessionMode, Transition
from server.tasks import cancel_and_wait


class FakeSession:
    """Stands in for a voice session on some worker: applies ``take_over``/``hand_back`` to its mode,
    records every command it applied, and confirms each on the report stream like the real one.

    ``lose_next`` drops that many incoming commands unseen (a command lost on the way);
    ``hold``, when set, is awaited before applying (a session slow to apply).
    """

    def __init__(self, bus: OperatorBus, session_id: str = "s1") -> None:
        self.session_id = session_id
        self._bus = bus
        self.report = SessionReport.open(bus, session_id, "voice")
        self.mode = SessionMode.BOT
        self.applied: list[str] = []
        self.received = asyncio.Event()
        self.lose_next = 0
        self.hold: asyncio.Event | None = None
        self._commands = self.report.subscribe()
        self._task = asyncio.create_task(self._run(), name="fake-session")

    async def ready(self) -> None:
        """Until other workers can reach this session's command channel."""
        assert isinstance(self._bus, RedisOperatorBus)
        await self._bus.commands.wait_ready(self.session_id)

    def say(self, seq: int, text: str) -> None:
        self.report.turn(seq, "customer", text)

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        await self._commands.aclose()
        self.report.closed()

    async def _run(self) -> None:
        async for dispatch in self._commands:
            self.received.set()
            if self.lose_next:
                self.lose_next -= 1
                continue
            if self.hold is not None:
                await self.hold.wait()
            self._apply(dispatch)

    def _apply(self, dispatch: Dispatch) -> None:
        command = dispatch.command
        if isinstance(command, TakeOver | HandBack):
            mode = SessionMode.HUMAN if isinstance(command, TakeOver) else SessionMode.BOT
            at = datetime.now(UTC)
            move = Transition(self.session_id, self.mode, mode, dispatch.operator, command.type, at)
            self.mode = mode
            self.report.mode_changed(move)
        self.applied.append(command.client_msg_id)
        self.report.confirm(command.client_msg_id)
