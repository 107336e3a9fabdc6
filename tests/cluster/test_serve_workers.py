"""``teller serve --workers 2`` for real: a supervisor, two worker processes on their own ports, a
real Redis registry. One cluster serves the whole module (workers load models: slow to start),
and each test leaves both workers up for the next; the last one stops the supervisor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness.operator_probe import CustomerProbe
from server.cluster.registry import SessionRegistry, WorkerRecord
from server.voice.transport.tokens import ws_subprotocols
from tests.cluster.redis_server import RedisServer
from tests.cluster.workers import (
    DEADLINE_S,
    TTL_S,
    Cluster,
    answers,
    registry_reader,
    serve_workers,
    wait_until,
)

pytestmark = pytest.mark.cluster

HOST = "tellertest"
PREFIX = "serve-test:"


@pytest.fixture(scope="module")
def cluster(
    module_redis: RedisServer, demo_index_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("serve")
    env = {
        "TELLER_CLUSTER__PENDING_TTL_S": "3",
        "TELLER_STORE__URL": f"sqlite:///{workdir / 'teller.db'}",
        "TELLER_SECRET_KEY": "serve-workers-test-secret-0123456789",
    }
    with serve_workers(
        workdir, host=HOST, redis_url=module_redis.url, prefix=PREFIX, index_dir=demo_index_dir, env=env
    ) as found:
        yield found


@pytest.fixture()
async def registry(cluster: Cluster) -> AsyncIterator[SessionRegistry]:
    async with registry_reader(cluster, PREFIX, pending_ttl_s=3) as reader:
        yield reader


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        return await http.get(url)


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def record_of(registry: SessionRegistry, worker: str) -> WorkerRecord | None:
    return next((r for r in await registry.workers() if r.worker == worker), None)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def both_up(cluster: Cluster, registry: SessionRegistry) -> dict[str, WorkerRecord]:
    """Wait until both workers heartbeat, serve and are not draining; their records."""

    async def up() -> bool:
        records = {r.worker: r for r in await registry.workers()}
        return set(records) == set(cluster.ports) and not any(r.draining for r in records.values())

    await eventually(up, "both workers are in the registry")
    urls = [cluster.pages, *(cluster.url(w) for w in cluster.ports)]
    await asyncio.to_thread(wait_until, lambda: all(answers(u) for u in urls), "the workers answer /healthz")
    return {r.worker: r for r in await registry.workers()}


async def test_two_workers_answer_on_their_ports_and_join_the_registry(
    cluster: Cluster, registry: SessionRegistry
) -> None:
    records = await both_up(cluster, registry)
    for worker, port in cluster.ports.items():
        health = (await get(f"http://127.0.0.1:{port}/healthz")).json()
        assert (health["status"], health["worker"]) == ("ok", worker)
        record = records[worker]
        assert (record.prefix, record.capacity, record.draining) == (f"/w/{worker}", 2, False)
    assert (await get(f"{cluster.pages}/healthz")).json()["worker"] == f"{HOST}-00"
    pids = {r.pid for r in records.values()}
    assert len(pids) == 2 and cluster.proc.pid not in pids and all(alive(p) for p in pids)
    page = await get(f"{cluster.pages}/")
    assert page.status_code == 200, "worker 00 serves the pages on server.port"


class WorkerCustomer(CustomerProbe):
    """A websocket customer: dispatched through the pages port, connected to its worker's own port
    (what the edge does with ``/w/<worker>/``: it strips the prefix)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.pages)
        self._cluster = cluster
        self.worker = ""

    async def __aenter__(self) -> WorkerCustomer:
        async with httpx.AsyncClient(base_url=self.base_url, trust_env=False, timeout=60) as http:
            grant = (await http.get("/api/v1/session")).raise_for_status().json()
        self.session_id, self.worker = grant["session_id"], grant["worker"]
        assert grant["signalling_url"] == f"/w/{self.worker}"
        port = self._cluster.ports[self.worker]
        await self._open(f"ws://127.0.0.1:{port}/api/v1/ws", subprotocols=ws_subprotocols(grant["token"]))
        await self.heard.event(lambda e: e["type"] == "session", 120)
        return self


async def test_sigterm_drains_a_worker_after_its_last_session(
    cluster: Cluster, registry: SessionRegistry
) -> None:
    await both_up(cluster, registry)
    async with WorkerCustomer(cluster) as customer:
        draining = await record_of(registry, customer.worker)
        assert draining is not None
        os.kill(draining.pid, signal.SIGTERM)

        async def marked() -> bool:
            record = await record_of(registry, customer.worker)
            return record is not None and record.draining

        await eventually(marked, "the registry hears of the drain")
        health = await get(f"{cluster.url(customer.worker)}/healthz")
        assert health.status_code == 503 and health.json()["status"] == "draining"
        grant = (await get(f"{cluster.pages}/api/v1/session")).json()
        assert grant["worker"] != customer.worker, "dispatch skips a draining worker"

        since = time.monotonic()
        await customer.say("How do I freeze my card?")  # the live session goes on meanwhile
        await customer.heard.event(lambda e: e["type"] == "transcript", 120, since)
        assert alive(draining.pid)
    # The customer hung up: the worker's last session ends, then the worker
    await asyncio.to_thread(wait_until, lambda: not alive(draining.pid), "the drained worker exits")
    await asyncio.to_thread(
        wait_until,
        lambda: any(e["pid"] == draining.pid for e in cluster.log_entries("worker exited; restarting it")),
        "the supervisor notices the exit",
    )
    (exited,) = [e for e in cluster.log_entries("worker exited; restarting it") if e["pid"] == draining.pid]
    assert exited["code"] == 0, "a drained worker exits cleanly"
    records = await both_up(cluster, registry)  # and the supervisor started it again
    assert records[customer.worker].pid != draining.pid


async def test_a_killed_worker_leaves_the_registry_and_is_restarted(
    cluster: Cluster, registry: SessionRegistry
) -> None:
    worker = f"{HOST}-01"
    before = (await both_up(cluster, registry))[worker]
    os.kill(before.pid, signal.SIGKILL)

    async def gone() -> bool:
        return await record_of(registry, worker) is None

    await eventually(gone, f"a killed worker leaves the registry within its TTL ({TTL_S} s)")
    after = (await both_up(cluster, registry))[worker]
    assert after.pid != before.pid and alive(after.pid)
    killed = [e for e in cluster.log_entries("worker exited; restarting it") if e["pid"] == before.pid]
    assert [e["code"] for e in killed] == [-signal.SIGKILL]
    health = (await get(f"{cluster.url(worker)}/healthz")).json()
    assert health["worker"] == worker


async def test_sigterm_to_the_supervisor_stops_every_worker(
    cluster: Cluster, registry: SessionRegistry
) -> None:
    pids = [r.pid for r in (await both_up(cluster, registry)).values()]
    cluster.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(cluster.proc.wait, 120) == 0
    assert not any(alive(pid) for pid in pids)
    assert await registry.workers() == [], "workers leave the registry as they stop"
    assert {e["pid"] for e in cluster.log_entries("worker stopped")} == set(pids)
