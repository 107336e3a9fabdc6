"""The session side applies each command once: a resend of one it applied is confirmed again."""

from __future__ import annotations

import asyncio

from server.operator.bus import InProcessOperatorBus
from server.operator.commands import Say
from server.operator.errors import WrongMode
from server.operator.messages import CommandApplied, CommandRefusal, Dispatch, SessionOpened
from server.operator.report import SessionReport


def say(msg_id: str) -> Dispatch:
    return Dispatch(operator="op", command=Say(client_msg_id=msg_id, session_id="s1", text="hello"))


async def test_a_resend_of_an_applied_command_is_confirmed_not_returned() -> None:
    bus = InProcessOperatorBus()
    hub_side = bus.reports.subscribe()
    report = SessionReport.open(bus, "s1", "voice")
    commands = report.subscribe()
    assert await anext(hub_side) == SessionOpened(session_id="s1", channel="voice")

    await bus.commands.publish("s1", say("m1"))
    assert await anext(commands) == say("m1")
    report.confirm("m1")
    await bus.commands.publish("s1", say("refused"))
    assert await anext(commands) == say("refused")
    report.confirm("refused", WrongMode("take it over first"))

    for resend in ("m1", "refused", "m2"):  # the sender timed out and resent: m1 only is known as applied
        await bus.commands.publish("s1", say(resend))
    assert await asyncio.wait_for(anext(commands), 1) == say("refused")  # a refusal changed nothing: retried
    assert await asyncio.wait_for(anext(commands), 1) == say("m2")
    assert [await anext(hub_side) for _ in range(3)] == [
        CommandApplied(session_id="s1", client_msg_id="m1"),
        CommandApplied(
            session_id="s1",
            client_msg_id="refused",
            refusal=CommandRefusal.of(WrongMode("take it over first")),
        ),
        CommandApplied(session_id="s1", client_msg_id="m1"),  # the resend, confirmed again
    ]
    await commands.aclose()
    await bus.aclose()
