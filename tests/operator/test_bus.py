from __future__ import annotations

import asyncio

import pytest

from server.operator.bus import CommandBus, InProcessCommandBus, InProcessOperatorBus, OperatorBus, ReportBus
from server.operator.commands import Say, TakeOver
from server.operator.errors import BusClosed, BusOverflow
from server.operator.messages import Dispatch, Flagged, SessionOpened


def say(n: int, session: str = "s1") -> Dispatch:
    return Dispatch(operator="op", command=Say(client_msg_id=f"m{n}", session_id=session, text=f"line {n}"))


def test_in_process_buses_fit_the_protocols() -> None:
    bus: OperatorBus = InProcessOperatorBus()
    commands: CommandBus = bus.commands
    reports: ReportBus = bus.reports
    assert commands is not None and reports is not None


async def test_reports_reach_every_hub_in_the_order_sessions_sent_them() -> None:
    bus = InProcessOperatorBus()
    first, second = bus.reports.subscribe(), bus.reports.subscribe()
    sent = [SessionOpened(session_id="s1", channel="voice"), Flagged(session_id="s1", flag="negative")]
    for message in sent:
        bus.reports.publish(message)
    assert [await anext(first), await anext(first)] == sent
    assert [await anext(second), await anext(second)] == sent
    await bus.aclose()
    assert [m async for m in first] == []  # closing ends every subscription
    bus.reports.publish(Flagged(session_id="s1", flag="late"))  # a session closing after the hubs: dropped


async def test_delivers_in_order_to_every_subscriber_of_the_session_only() -> None:
    bus = InProcessCommandBus()
    a, b, other = bus.subscribe("s1"), bus.subscribe("s1"), bus.subscribe("s2")
    assert await bus.publish("s1", say(1)) == 2
    assert await bus.publish("s1", say(2)) == 2
    assert [await anext(a), await anext(a)] == [say(1), say(2)]
    assert [await anext(b), await anext(b)] == [say(1), say(2)]
    assert await bus.publish("nobody", say(3)) == 0
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(other), 0.01)
    for sub in (a, b, other):
        await sub.aclose()


async def test_unsubscribe_cleans_up_and_ends_iteration() -> None:
    bus = InProcessCommandBus()
    got: list[Dispatch] = []

    async def reader() -> None:
        async with bus.subscribe("s1") as sub:
            async for command in sub:
                got.append(command)
                if len(got) == 2:
                    break

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    assert bus.subscriber_count("s1") == 1
    await bus.publish("s1", say(1))
    await bus.publish("s1", Dispatch(operator="op", command=TakeOver(client_msg_id="t", session_id="s1")))
    await asyncio.wait_for(task, 1)
    assert len(got) == 2 and bus.subscriber_count() == 0 and bus.sessions() == set()


async def test_close_wakes_a_waiting_reader() -> None:
    bus = InProcessCommandBus()
    sub = bus.subscribe("s1")
    waiter = asyncio.create_task(anext(sub))
    await asyncio.sleep(0)
    await sub.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, 1)
    await sub.aclose()  # idempotent
    assert bus.subscriber_count("s1") == 0


async def test_full_subscriber_raises_retryable_overflow() -> None:
    bus = InProcessCommandBus(maxsize=1)
    sub = bus.subscribe("s1")
    await bus.publish("s1", say(1))
    with pytest.raises(BusOverflow) as info:
        await bus.publish("s1", say(2))
    assert info.value.retryable is True
    assert await anext(sub) == say(1)
    await sub.aclose()


async def test_closed_bus_ends_subscriptions_and_refuses_work() -> None:
    bus = InProcessCommandBus()
    sub = bus.subscribe("s1")
    await bus.publish("s1", say(1))
    await bus.aclose()
    assert [c async for c in sub] == [say(1)]  # queued commands drain, then the iterator ends
    assert bus.subscriber_count() == 0
    with pytest.raises(BusClosed):
        await bus.publish("s1", say(2))
    with pytest.raises(BusClosed):
        bus.subscribe("s1")
