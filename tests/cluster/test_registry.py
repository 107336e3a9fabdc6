"""The Redis session registry with a real ``redis-server``: heartbeats that expire, least-loaded
dispatch with pending claims, session ownership, and a worker's membership (heartbeat, drain, leave)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from server.cluster.identity import WorkerIdentity
from server.cluster.member import ClusterMember, IllegalWorkerMove, WorkerState
from server.cluster.registry import SessionRegistry, WorkerRecord
from server.operator.redis_bus import redis_client
from server.voice.manager import BUSY, CapacityError, SessionManager
from server.voice.services import VoiceServices
from tests.cluster.redis_server import RedisServer

pytestmark = pytest.mark.cluster

TTL_S = 0.6
DEADLINE_S = 30.0


@pytest.fixture()
async def registry(redis_server: RedisServer) -> AsyncIterator[SessionRegistry]:
    registry = SessionRegistry(
        redis_client(redis_server.url, socket_timeout_s=2.0), prefix="test:", ttl_s=TTL_S, pending_ttl_s=30
    )
    try:
        yield registry
    finally:
        await registry.aclose()


def record(worker: str, active: int = 0, capacity: int = 2, *, draining: bool = False) -> WorkerRecord:
    return WorkerRecord(
        worker=worker, prefix=f"/w/{worker}", pid=1, active=active, capacity=capacity, draining=draining
    )


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` (a registry read) until it holds; a generous deadline, not a timing bound."""
    deadline = time.monotonic() + DEADLINE_S
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def ids(registry: SessionRegistry) -> list[str]:
    return [r.worker for r in await registry.workers()]


async def test_a_worker_that_stops_heartbeating_leaves_the_registry(registry: SessionRegistry) -> None:
    await registry.beat(record("m-00"), live=[])
    await registry.beat(record("m-01"), live=["s0"])
    assert await ids(registry) == ["m-00", "m-01"]
    assert await registry.owner("s0") == "m-01"

    async def m01_gone() -> bool:
        await registry.beat(record("m-00"), live=[])  # m-00 keeps beating; m-01 has died
        return "m-01" not in await ids(registry)

    await eventually(m01_gone, f"a worker silent for {TTL_S} s leaves the registry")
    assert await ids(registry) == ["m-00"]
    assert await registry.owner("s0") is None, "its sessions' ownership lapses with it"
    placed = await registry.place("s1")
    assert placed is not None and placed.worker == "m-00" and await registry.owner("s1") == "m-00"


async def test_dispatch_picks_the_least_loaded_worker_that_is_not_draining(registry: SessionRegistry) -> None:
    await registry.beat(record("m-00", active=1, capacity=2), live=["live-a"])
    await registry.beat(record("m-01", active=0, capacity=2, draining=True), live=[])
    await registry.beat(record("m-02", active=0, capacity=2), live=[])
    first = await registry.place("s1")
    assert first is not None and (first.worker, first.prefix) == ("m-02", "/w/m-02")
    # m-02 now carries s1 (pending): tied with m-00 at 1/2, the lower id wins
    second = await registry.place("s2")
    assert second is not None and second.worker == "m-00"
    third = await registry.place("s3")
    assert third is not None and third.worker == "m-02"
    assert await registry.place("s4") is None, "every worker is full or draining"
    assert [await registry.owner(s) for s in ("s1", "s2", "s3", "s4", "live-a")] == [
        "m-02",
        "m-00",
        "m-02",
        None,
        "m-00",
    ]


async def test_a_session_that_connected_counts_once(registry: SessionRegistry) -> None:
    await registry.beat(record("m-00", capacity=2), live=[])
    assert (await registry.place("s1")) is not None
    # s1 connects: the heartbeat that counts it live also drops its pending claim
    await registry.beat(record("m-00", active=1, capacity=2), live=["s1"])
    assert (await registry.place("s2")) is not None
    assert await registry.place("s3") is None
    # s1 ends: forgotten, and its slot is free at the next beat
    await registry.beat(record("m-00", active=0, capacity=2), live=[], ended=["s1"])
    assert await registry.owner("s1") is None
    assert (placed := await registry.place("s3")) is not None and placed.worker == "m-00"


def idle_manager(max_sessions: int = 2) -> SessionManager:
    async def no_models() -> VoiceServices:
        raise AssertionError("no session is started in these tests")

    return SessionManager(no_models, max_sessions=max_sessions, max_per_ip=2)


def member(registry: SessionRegistry, index: int, manager: SessionManager) -> ClusterMember:
    return ClusterMember(
        WorkerIdentity("m", index, 9100 + index),
        registry,
        manager,
        capacity=2,
        heartbeat_s=0.1,
        drain_timeout_s=30,
    )


async def test_a_member_heartbeats_drains_and_leaves(redis_server: RedisServer) -> None:
    def open_registry() -> SessionRegistry:
        client = redis_client(redis_server.url, socket_timeout_s=2.0)
        return SessionRegistry(client, prefix="test:", ttl_s=TTL_S, pending_ttl_s=30)

    reader = open_registry()
    a = member(open_registry(), 0, idle_manager())
    b = member(open_registry(), 1, idle_manager())
    try:
        a.start()
        b.start()
        await eventually(lambda: _listed(reader, ["m-00", "m-01"]), "both members heartbeat")
        (seen,) = [r for r in await reader.workers() if r.worker == "m-00"]
        assert (seen.pid, seen.active, seen.capacity, seen.draining) == (os.getpid(), 0, 2, False)
        assert (await a.place("s1")).worker == "m-00"

        drained = asyncio.Event()
        a.begin_drain(drained.set)
        await drained.wait()  # no live session: the drain is over at once
        assert a.state is WorkerState.DRAINING
        with pytest.raises(IllegalWorkerMove):
            a.begin_drain(drained.set)
        await eventually(lambda: _draining(reader, "m-00"), "the registry hears of the drain")
        for session in ("s2", "s3"):  # the draining member still dispatches, to the others
            assert (await a.place(session)).worker == "m-01"
        with pytest.raises(CapacityError, match=BUSY):
            await a.place("s4")

        await b.aclose()  # a clean exit leaves at once, without waiting for the TTL
        assert "m-01" not in await ids(reader)
        assert b.state is WorkerState.STOPPED
    finally:
        await a.aclose()
        await b.aclose()
        await reader.aclose()


async def _listed(registry: SessionRegistry, wanted: list[str]) -> bool:
    return await ids(registry) == wanted


async def _draining(registry: SessionRegistry, worker: str) -> bool:
    return any(r.worker == worker and r.draining for r in await registry.workers())


async def test_dispatch_falls_back_to_this_worker_while_redis_is_away(redis_server: RedisServer) -> None:
    client = redis_client(redis_server.url, socket_timeout_s=1.0)
    alone = member(SessionRegistry(client, prefix="test:", ttl_s=TTL_S, pending_ttl_s=30), 0, idle_manager())
    try:
        await redis_server.astop()
        placed = await alone.place("s1")
        assert (placed.worker, placed.prefix) == ("m-00", "/w/m-00")
    finally:
        await alone.aclose()
