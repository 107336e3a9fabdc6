"""The takeover seam without a server: the control holds the conversation and the gate, never the reverse."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from server.brain.brain import BrainReply
from server.brain.memory import Speaker
from server.brain.pii import MaskedText, mask_pii
from server.operator import Dispatch, OperatorError, UnknownDraft
from server.operator.commands import Approve, Edit, HandBack, Reject, Say, SetMode, TakeOver
from server.operator.states import ModeMachine, SessionMode, Transition
from server.voice.gate import TakeoverGate
from server.voice.takeover import TakeoverControl
from tests.voice.stubs import empty_brain

SID = "t1"


class _Commands:
    """The session's command stream, fed by the test."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Dispatch | None] = asyncio.Queue()

    def __aiter__(self) -> _Commands:
        return self

    async def __anext__(self) -> Dispatch:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> _Commands:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def aclose(self) -> None:
        return None


class _Report:
    """What the hub would hear of this session."""

    session_id = SID

    def __init__(self) -> None:
        self.commands = _Commands()
        self.turns: list[tuple[int, str, str]] = []
        self.drafts: dict[str, str] = {}
        self.modes: list[SessionMode] = []
        self.confirmed: dict[str, OperatorError | None] = {}
        self.closed_ = False
        self.changed = asyncio.Condition()

    def turn(self, seq: int, speaker: str, text: str, **_: Any) -> None:
        self.turns.append((seq, speaker, text))

    def mode_changed(self, transition: Transition) -> None:
        self.modes.append(transition.mode)

    async def call_operator(self, _reason: object) -> None:
        return None

    def flag(self, _flag: str) -> None:
        return None

    def draft(self, draft_id: str, text: str) -> None:
        self.drafts[draft_id] = text

    def confirm(self, client_msg_id: str, error: OperatorError | None = None) -> None:
        self.confirmed[client_msg_id] = error
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def closed(self) -> None:
        self.closed_ = True

    def subscribe(self) -> _Commands:
        return self.commands


class _Voice:
    """The conversation's operator calls, recorded."""

    session_id = SID

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def speak_line(self, line: MaskedText, *, operator: str | None = None) -> int:
        self.calls.append(("speak_line", line))
        return len(self.calls)

    async def reply(self, reply: BrainReply, *, speaker: str = "bot", operator: str | None = None) -> None:
        self.calls.append(("reply", (reply.text, speaker)))

    async def interrupt(self) -> None:
        self.calls.append(("interrupt", None))

    async def send_event(self, event: BaseModel) -> None:
        self.calls.append(("event", event.model_dump()))


class _Audit:
    def audit(self, *_args: Any, **_detail: Any) -> None:
        return None


async def _run(report: _Report, command: Any, operator: str = "olivia") -> OperatorError | None:
    report.commands.queue.put_nowait(Dispatch(operator=operator, command=command))
    async with asyncio.timeout(10), report.changed:
        await report.changed.wait_for(lambda: command.client_msg_id in report.confirmed)
    return report.confirmed[command.client_msg_id]


async def test_the_control_speaks_for_the_operator_and_settles_drafts() -> None:
    brain, _ = empty_brain()
    report, voice = _Report(), _Voice()
    gate = TakeoverGate(report, ModeMachine(SID, _Audit()))  # type: ignore[arg-type]
    control = TakeoverControl(voice, gate, brain, disclose_human=True)
    control.start()
    try:
        assert await _run(report, TakeOver(client_msg_id="1", session_id=SID)) is None
        assert voice.calls[:1] == [("interrupt", None)] and gate.mode is SessionMode.HUMAN
        assert voice.calls[1][1]["notice"] == "You are now talking with olivia."

        say = Say(client_msg_id="2", session_id=SID, text="Is it 4111 1111 1111 1111?")
        assert await _run(report, say) is None
        line = voice.calls[-1][1]
        assert isinstance(line, MaskedText) and line == "Is it [card ending 1111]?"
        assert brain.memory.get(SID).turns[-1].speaker is Speaker.OPERATOR

        assert await _run(report, SetMode(client_msg_id="3", session_id=SID, mode=SessionMode.ASSIST)) is None
        drafts = [brain.respond(SID, mask_pii(q)) for q in ("the weather?", "the football?", "the news?")]
        for draft in drafts:
            gate.hold_draft(draft)
        ids = list(report.drafts)
        assert await _run(report, Approve(client_msg_id="4", session_id=SID, draft_id=ids[0])) is None
        assert voice.calls[-1] == ("reply", (drafts[0].text, "bot"))
        edit = Edit(client_msg_id="5", session_id=SID, draft_id=ids[1], text="Only banking, sorry.")
        assert await _run(report, edit) is None
        assert voice.calls[-1] == ("reply", ("Only banking, sorry.", "operator"))
        assert await _run(report, Reject(client_msg_id="6", session_id=SID, draft_id=ids[2])) is None
        again = await _run(report, Approve(client_msg_id="7", session_id=SID, draft_id=ids[2]))
        assert isinstance(again, UnknownDraft)
        said = [(t.speaker, t.text) for t in brain.memory.get(SID).turns]
        assert (Speaker.OPERATOR, "Only banking, sorry.") in said
        assert (Speaker.BOT, drafts[0].text) in said  # approved: said as drafted
        assert said.count((Speaker.BOT, drafts[0].text)) == 1  # the rewritten and rejected ones are gone

        assert await _run(report, HandBack(client_msg_id="8", session_id=SID)) is None
        assert report.modes == [SessionMode.HUMAN, SessionMode.ASSIST, SessionMode.BOT]
    finally:
        await control.close()
    assert report.closed_ and gate.mode is SessionMode.CLOSED


async def test_the_operator_cannot_speak_while_the_bot_answers() -> None:
    brain, _ = empty_brain()
    report = _Report()
    gate = TakeoverGate(report, ModeMachine(SID, _Audit()))  # type: ignore[arg-type]
    control = TakeoverControl(_Voice(), gate, brain, disclose_human=False)
    control.start()
    try:
        refused = await _run(report, Say(client_msg_id="1", session_id=SID, text="hello"))
        assert refused is not None and refused.code == "wrong_mode"
    finally:
        await control.close()
