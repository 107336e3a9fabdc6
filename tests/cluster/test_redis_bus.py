"""The operator bus over a real Redis, between two workers (A: the operator's, B: the session's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from server.config import Settings, load_settings
from server.operator.bus import InProcessOperatorBus, MessageSubscription, OperatorBus
from server.operator.bus_factory import open_operator_bus
from server.operator.commands import AckEvent, TakeOver
from server.operator.errors import ClaimConflict, CommandTimeout
from server.operator.events import (
    BusStatusEvent,
    ClosedEvent,
    ConsoleEvent,
    SessionListEvent,
    TranscriptEvent,
)
from server.operator.hub import ConsoleFeed, OperatorHub
from server.operator.messages import (
    CommandApplied,
    Dispatch,
    Flagged,
    SessionClosed,
    SessionMessage,
    SessionOpened,
    TurnTaken,
)
from server.operator.redis_bus import BusUnavailable, RedisOperatorBus
from server.operator.states import SessionMode
from server.store.store import Store
from tests.cluster.conftest import worker_bus
from tests.cluster.fakes import FakeSession
from tests.cluster.redis_server import RedisServer

pytestmark = pytest.mark.cluster

WAIT_S = 15.0  # generous: every wait below ends on an event, this only bounds a failure
T = TypeVar("T")
Workers = tuple[RedisOperatorBus, RedisOperatorBus]


async def next_of(sub: MessageSubscription[T]) -> T:
    return await asyncio.wait_for(anext(sub), WAIT_S)


async def until(feed: ConsoleFeed, match: Callable[[ConsoleEvent], bool]) -> ConsoleEvent:
    """The first event on ``feed`` that ``match``es (earlier ones are skipped)."""

    async def scan() -> ConsoleEvent:
        while not match(event := await feed.get()):
            pass
        return event

    return await asyncio.wait_for(scan(), WAIT_S)


def lists(
    session_id: str, check: Callable[[dict[str, object]], bool] = lambda _s: True
) -> Callable[..., bool]:
    def match(event: ConsoleEvent) -> bool:
        return isinstance(event, SessionListEvent) and any(
            s.session_id == session_id and check(s.model_dump()) for s in event.sessions
        )

    return match


def bus_status(degraded: bool) -> Callable[[ConsoleEvent], bool]:
    return lambda event: event == BusStatusEvent(degraded=degraded)


def turn(n: int, session_id: str = "s1") -> TurnTaken:
    return TurnTaken(session_id=session_id, seq=n, speaker="customer", text=f"line {n}")


def take_over(msg_id: str = "m1", session_id: str = "s1") -> TakeOver:
    return TakeOver(client_msg_id=msg_id, session_id=session_id)


async def degraded(*buses: RedisOperatorBus, state: bool) -> None:
    await asyncio.wait_for(asyncio.gather(*(bus.health.wait(state) for bus in buses)), WAIT_S)


async def outage(server: RedisServer, *buses: RedisOperatorBus) -> None:
    """Kill Redis and wait until every bus has noticed."""
    await server.astop()
    await degraded(*buses, state=True)


async def comeback(server: RedisServer, *buses: RedisOperatorBus) -> None:
    """Start Redis again (empty: no persistence) and wait until every bus has reconnected."""
    await server.astart()
    await degraded(*buses, state=False)


@pytest.fixture()
async def hub_a(workers: Workers, tmp_path: Path) -> AsyncIterator[OperatorHub]:
    """The operator's worker: a real hub on bus A (it closes A)."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'teller.db'}")
    hub = OperatorHub(store, lambda _problem: None, bus=workers[0], confirm_timeout_s=1.0)
    hub.start()
    try:
        yield hub
    finally:
        await hub.aclose()
        store.close()


@pytest.fixture()
async def session_b(workers: Workers) -> AsyncIterator[FakeSession]:
    """A live session on worker B, reachable from other workers."""
    session = FakeSession(workers[1])
    await asyncio.wait_for(session.ready(), WAIT_S)
    try:
        yield session
    finally:
        await session.close()


async def test_both_streams_round_trip_between_two_workers(workers: Workers) -> None:
    a, b = workers
    bus: OperatorBus = a  # fits the protocol the hub and the sessions use
    reader, own = bus.reports.subscribe(), b.reports.subscribe()  # hubs on A and on B
    commands = b.commands.subscribe("s1")
    await asyncio.wait_for(commands.wait_ready(), WAIT_S)

    dispatch = Dispatch(operator="op", command=take_over())
    assert await bus.commands.publish("s1", dispatch) == 1  # some worker holds s1
    assert await next_of(commands) == dispatch
    assert await bus.commands.publish("nobody", dispatch) == 0

    sent: list[SessionMessage] = [
        SessionOpened(session_id="s1", channel="voice"),
        turn(1),
        CommandApplied(session_id="s1", client_msg_id="m1"),
        SessionClosed(session_id="s1"),
    ]
    for message in sent:
        b.reports.publish(message)
    assert [await next_of(reader) for _ in sent] == sent  # from Redis
    assert [await next_of(own) for _ in sent] == sent  # in process
    a.reports.publish(turn(2))
    assert (await next_of(reader), await next_of(own)) == (turn(2), turn(2))
    b.reports.publish(turn(3))
    assert (await next_of(reader), await next_of(own)) == (turn(3), turn(3))  # nothing came twice

    late = a.reports.subscribe()  # a hub starting later reads the retained history first
    assert [await next_of(late) for _ in range(6)] == [*sent, turn(2), turn(3)]
    await commands.aclose()
    assert b.commands.subscriber_count() == 0


async def test_takeover_from_worker_a_cuts_the_bot_on_worker_b(
    workers: Workers, hub_a: OperatorHub, session_b: FakeSession, tmp_path: Path
) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'b.db'}")
    hub_b = OperatorHub(store, lambda _problem: None, bus=workers[1])  # the session's worker has consoles too
    hub_b.start()
    feed_a, feed_b = hub_a.connect(), hub_b.connect()
    try:
        await until(feed_a, lists("s1"))

        ack = await asyncio.wait_for(hub_a.execute("op", take_over(), feed_a), WAIT_S)

        assert ack == AckEvent(client_msg_id="m1")
        assert session_b.mode is SessionMode.HUMAN and session_b.applied == ["m1"]
        await until(feed_b, lists("s1", lambda s: s["mode"] == SessionMode.HUMAN and s["claimed_by"] == "op"))
        with pytest.raises(ClaimConflict):  # an operator on worker B sees it is held
            await hub_b.execute("op2", take_over("m2"), feed_b)
        await session_b.close()
        await until(feed_a, lambda e: e == ClosedEvent(session_id="s1"))
    finally:
        await hub_b.aclose()
        store.close()


async def test_reports_sent_while_redis_is_down_arrive_after_it_returns_in_order(
    redis_server: RedisServer, workers: Workers
) -> None:
    a, b = workers
    reader = a.reports.subscribe()
    b.reports.publish(turn(0))
    assert await next_of(reader) == turn(0)

    await redis_server.astop()
    queued = [turn(n) for n in range(1, 51)]
    for message in queued:
        b.reports.publish(message)  # the session keeps talking: never blocks, never raises
    await degraded(a, b, state=True)
    assert len(b.reports.outbox) == 50

    await comeback(redis_server, a, b)

    assert [await next_of(reader) for _ in queued] == queued
    b.reports.publish(turn(99))
    assert await next_of(reader) == turn(99)  # nothing was delivered twice
    assert await b.reports.outbox.flush(WAIT_S) and len(b.reports.outbox) == 0


async def test_consoles_get_a_degraded_status_while_redis_is_away(
    redis_server: RedisServer, workers: Workers, hub_a: OperatorHub
) -> None:
    feed = hub_a.connect()
    await until(feed, bus_status(False))  # sent on connect

    await redis_server.astop()
    await until(feed, bus_status(True))
    assert hub_a.bus.degraded
    await redis_server.astart()
    await until(feed, bus_status(False))
    assert not hub_a.bus.degraded


async def test_a_confirmation_late_by_an_outage_then_a_resend_is_acked_without_applying_twice(
    redis_server: RedisServer, workers: Workers, hub_a: OperatorHub, session_b: FakeSession
) -> None:
    feed = hub_a.connect()
    await until(feed, lists("s1"))
    session_b.hold = asyncio.Event()
    first = asyncio.create_task(hub_a.execute("op", take_over(), feed))
    await asyncio.wait_for(session_b.received.wait(), WAIT_S)

    await outage(redis_server, *workers)
    session_b.hold.set()  # applied now; its confirmation waits in B's outbox
    with pytest.raises(CommandTimeout):
        await asyncio.wait_for(first, WAIT_S)
    with pytest.raises(BusUnavailable) as refused:  # the console may resend: it is told to retry
        await hub_a.execute("op", take_over(), feed)
    assert refused.value.retryable

    await comeback(redis_server, *workers)
    ack = await asyncio.wait_for(hub_a.execute("op", take_over(), feed), WAIT_S)

    assert ack == AckEvent(client_msg_id="m1")
    assert session_b.applied == ["m1"] and session_b.mode is SessionMode.HUMAN


async def test_a_workers_own_sessions_stay_controllable_while_redis_is_down(
    redis_server: RedisServer, workers: Workers, session_b: FakeSession, tmp_path: Path
) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'b.db'}")
    hub_b = OperatorHub(store, lambda _problem: None, bus=workers[1], confirm_timeout_s=1.0)
    hub_b.start()
    feed = hub_b.connect()
    try:
        await until(feed, lists("s1"))
        await outage(redis_server, workers[1])
        await until(feed, bus_status(True))

        ack = await asyncio.wait_for(hub_b.execute("op", take_over(), feed), WAIT_S)

        assert ack == AckEvent(client_msg_id="m1") and session_b.mode is SessionMode.HUMAN
        await until(feed, lists("s1", lambda s: s["claimed_by"] == "op"))
        await comeback(redis_server, workers[1])
    finally:
        await hub_b.aclose()
        store.close()


async def test_a_lost_command_times_out_and_its_resend_is_applied_once(
    workers: Workers, hub_a: OperatorHub, session_b: FakeSession
) -> None:
    feed = hub_a.connect()
    await until(feed, lists("s1"))
    session_b.lose_next = 1

    with pytest.raises(CommandTimeout) as lost:
        await asyncio.wait_for(hub_a.execute("op", take_over(), feed), WAIT_S)
    assert lost.value.retryable and session_b.applied == []

    ack = await asyncio.wait_for(hub_a.execute("op", take_over(), feed), WAIT_S)
    assert ack == AckEvent(client_msg_id="m1") and session_b.applied == ["m1"]
    again = await asyncio.wait_for(hub_a.execute("op", take_over(), feed), WAIT_S)
    assert again == ack and session_b.applied == ["m1"]  # the hub's ledger answers a later resend


async def test_a_conversation_goes_on_through_a_redis_restart(
    redis_server: RedisServer, workers: Workers, hub_a: OperatorHub, session_b: FakeSession
) -> None:
    feed = hub_a.connect()
    session_b.say(1, "hello")
    await until(feed, lambda e: isinstance(e, TranscriptEvent) and e.turns[0].seq == 1)

    await outage(redis_server, *workers)
    session_b.say(2, "are you there?")
    await comeback(redis_server, *workers)
    session_b.say(3, "hello again")

    seen = [await until(feed, lambda e: isinstance(e, TranscriptEvent)) for _ in range(2)]
    assert [e.turns[0].text for e in seen if isinstance(e, TranscriptEvent)] == [
        "are you there?",
        "hello again",
    ]
    ack = await asyncio.wait_for(hub_a.execute("op", take_over(), feed), WAIT_S)
    assert ack == AckEvent(client_msg_id="m1") and session_b.mode is SessionMode.HUMAN


async def test_a_full_outbox_drops_transcript_lines_first(redis_server: RedisServer) -> None:
    a, b = worker_bus(redis_server), worker_bus(redis_server, outbox_max=5)
    try:
        reader = a.reports.subscribe()
        await redis_server.astop()
        opened, closed = SessionOpened(session_id="s1", channel="voice"), SessionClosed(session_id="s1")
        for message in [
            opened,
            turn(1),
            turn(2),
            Flagged(session_id="s1", flag="negative"),
            turn(3),
            turn(4),
            closed,
        ]:
            b.reports.publish(message)
        assert len(b.reports.outbox) == 5 and b.reports.outbox.dropped == 2
        await comeback(redis_server, a, b)

        assert [await next_of(reader) for _ in range(5)] == [
            opened,
            Flagged(session_id="s1", flag="negative"),
            turn(3),
            turn(4),
            closed,
        ]
    finally:
        await a.aclose()
        await b.aclose()


async def test_configuration_picks_the_bus(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(open_operator_bus(Settings()), InProcessOperatorBus)  # the one-machine default
    bus = open_operator_bus(Settings(operator={"bus": "redis"}, redis={"url": redis_server.url}))
    assert isinstance(bus, RedisOperatorBus) and not bus.degraded
    await bus.aclose()

    overlay = tmp_path / "cluster.yaml"
    overlay.write_text("redis:\n  url: redis://:hunter2@redis:6379/0\n")
    monkeypatch.setenv("TELLER_CONFIG", str(overlay))
    with pytest.raises(ValueError, match="environment"):
        load_settings()
