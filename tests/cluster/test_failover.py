"""Faults under ``teller serve --workers 2`` for real, on a real Redis and a real PostgreSQL (issue #16).

A worker killed with ``kill -9`` mid-conversation: sessions on the other worker go on untouched;
the killed worker's customers resume their sessions on a healthy worker, which picks up their
transcript and mode from the store, with the operator who had taken one over still attached; no
acknowledged line is lost. PostgreSQL dropping every connection while a customer's line is being
written: the write is retried, the line is committed before it is acknowledged, the customer
hears the answer. One cluster serves the module (workers load their models: slow to start).

A customer's line is acknowledged by its ``transcript`` event, an operator's by the console's
``ack``; both are sent only once the line is committed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bench.harness.operator_probe import ConsoleProbe, CustomerProbe, staff_login
from server.auth.users import Role, UserDirectory
from server.cluster.registry import SessionRegistry
from server.store.store import Store
from server.voice.transport.tokens import ws_subprotocols
from tests.cluster.redis_server import RedisServer
from tests.cluster.workers import Cluster, registry_reader, serve_workers
from tests.store.pg import PostgresCluster, postgres  # noqa: F401  # the session's PostgreSQL

pytestmark = pytest.mark.cluster

HOST = "failover"
PREFIX = "failover-test:"
OPERATOR, PASSWORD = "olivia", "failover password 1"
WAIT_S = 120.0  # one answer on a loaded 2-core machine
CONNECT_S = 300.0  # a worker's first session waits for its voice models to load
FREEZE = "How do I freeze my card?"


@pytest.fixture(scope="module")
def database(postgres: PostgresCluster) -> Iterator[tuple[str, str]]:  # noqa: F811
    """The tellers' database (migrated, with one operator): its name and URL."""
    postgres.ensure_running()
    name = postgres.new_database()
    url = postgres.url(name)
    store = Store.from_url(url)
    UserDirectory(store.engine).add(OPERATOR, Role.OPERATOR, PASSWORD)
    store.close()
    try:
        yield name, url
    finally:
        postgres.ensure_running()
        postgres.drop_database(name)


@pytest.fixture(scope="module")
def cluster(
    module_redis: RedisServer,
    database: tuple[str, str],
    demo_index_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("failover")
    env = {
        "TELLER_OPERATOR__CONFIRM_TIMEOUT_S": "30",
        "TELLER_STORE__URL": database[1],
        "TELLER_VOICE__MAX_SESSIONS": "4",  # the killed worker's customers all fit on the other one
        "TELLER_VOICE__MAX_SESSIONS_PER_IP": "4",
        "TELLER_SECRET_KEY": "failover-test-secret-0123456789",
    }
    with serve_workers(
        workdir, host=HOST, redis_url=module_redis.url, prefix=PREFIX, index_dir=demo_index_dir, env=env
    ) as found:
        yield found


@pytest.fixture()
async def registry(cluster: Cluster) -> AsyncIterator[SessionRegistry]:
    async with registry_reader(cluster, PREFIX, pending_ttl_s=15) as reader:
        yield reader


async def eventually(condition: Any, what: str, within_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + within_s
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


class Customer(CustomerProbe):
    """A websocket customer on its worker's own port (as the edge routes ``/w/<worker>/``) that
    resumes its session after losing the connection, as the page does."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster.pages)
        self._cluster = cluster
        self.worker = ""
        self.token = ""
        self.acknowledged: list[str] = []

    async def __aenter__(self) -> Customer:
        async with httpx.AsyncClient(base_url=self.base_url, trust_env=False, timeout=60) as http:
            grant = (await http.get("/api/v1/session")).raise_for_status().json()
        await self._connect(grant)
        return self

    async def _connect(self, grant: dict[str, Any]) -> None:
        since = time.monotonic()
        self.session_id, self.worker, self.token = grant["session_id"], grant["worker"], grant["token"]
        port = self._cluster.ports[self.worker]
        await self._open(f"ws://127.0.0.1:{port}/api/v1/ws", subprotocols=ws_subprotocols(self.token))
        await self.heard.event(lambda e: e["type"] == "session", CONNECT_S, since)

    @property
    def connected(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def lost(self) -> None:
        """Until the connection is gone (its worker died)."""
        reader = self._reader
        assert reader is not None
        await asyncio.wait_for(asyncio.wait({reader}), WAIT_S)
        if not reader.cancelled():
            reader.exception()  # the connection was cut (abnormal close): expected, and retrieved

    async def resume(self, via: str) -> dict[str, Any]:
        """``POST /api/v1/session/resume`` on worker ``via``, then connect where the grant says."""
        async with httpx.AsyncClient(base_url=via, trust_env=False, timeout=60) as http:
            response = await http.post("/api/v1/session/resume", json={"token": self.token})
        grant: dict[str, Any] = response.raise_for_status().json()
        assert grant["session_id"] == self.session_id, "the same session, wherever it goes"
        await self._connect(grant)
        return grant

    async def ask(self, text: str, *, answered: bool = True) -> None:
        """Type ``text``; return once it is acknowledged (and, when ``answered``, the reply shown)."""
        since = time.monotonic()
        await self.say(text)
        await self.heard.event(lambda e: e["type"] == "transcript" and e["text"] == text, WAIT_S, since)
        self.acknowledged.append(text)
        if answered:
            await self.heard.event(lambda e: e["type"] == "bot_text", WAIT_S, since)


def customer_lines(store_url: str, session_id: str) -> list[str]:
    store = Store.from_url(store_url)
    try:
        return [row.text for row in store.transcript(session_id) if row.speaker == "customer"]
    finally:
        store.close()


def lock_waiters(watcher: psycopg.Connection[Any]) -> set[int]:
    """Backends of this database waiting for a lock (``watcher`` autocommits: a fresh view each time)."""
    rows = watcher.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchall()
    return {int(row[0]) for row in rows}


async def test_a_customer_line_written_while_postgres_drops_every_connection_is_committed_then_answered(
    cluster: Cluster,
    database: tuple[str, str],
    postgres: PostgresCluster,  # noqa: F811
) -> None:
    name, url = database
    line = "And how do I unfreeze it?"
    async with Customer(cluster) as customer:
        await customer.ask(FREEZE)
        # Hold the session's row: its next line's write waits on PostgreSQL mid-transaction.
        with (
            psycopg.connect(postgres.dsn(name)) as holder,
            psycopg.connect(postgres.dsn(name), autocommit=True) as watcher,
        ):
            holder.execute("SELECT id FROM sessions WHERE id = %s FOR UPDATE", (customer.session_id,))
            since = time.monotonic()
            await customer.say(line)

            async def waiting() -> set[int]:
                return await asyncio.to_thread(lock_waiters, watcher)

            await eventually(waiting, "the line's write is under way")
            writing = await waiting()
            # PostgreSQL drops every connection of the tellers' database, the writing one too
            watcher.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
                (holder.info.backend_pid,),
            )

            async def retried() -> bool:
                return bool(await waiting() - writing)

            await eventually(retried, "the write is retried on a new connection")
            assert not customer.events("transcript", since), "nothing is acknowledged before its commit"
            holder.rollback()  # the row is free again
        await customer.heard.event(lambda e: e["type"] == "transcript" and e["text"] == line, WAIT_S, since)
        await customer.heard.event(lambda e: e["type"] == "bot_text", WAIT_S, since)
        await customer.wait_speech(since, WAIT_S)  # the customer hears the answer
        assert not customer.events("error", since)
    assert customer_lines(url, customer.session_id) == [FREEZE, line], "committed once, in order"
    assert "store write the turns failed (attempt 1), retrying" in cluster.log.read_text(errors="replace")


async def test_kill_9_a_worker_its_customers_resume_elsewhere_with_their_operator_and_lose_no_line(  # noqa: PLR0915 (one story)
    cluster: Cluster, registry: SessionRegistry, database: tuple[str, str]
) -> None:
    url = database[1]
    async with Customer(cluster) as c1, Customer(cluster) as c2, Customer(cluster) as c3:
        customers = [c1, c2, c3]
        by_worker: dict[str, list[Customer]] = {}
        for customer in customers:
            by_worker.setdefault(customer.worker, []).append(customer)
        assert sorted(len(c) for c in by_worker.values()) == [1, 2], "dispatch spreads the load"
        killed = next(w for w, on in by_worker.items() if len(on) == 2)
        healthy = next(w for w in cluster.ports if w != killed)
        (bystander,) = by_worker[healthy]
        talker, held = by_worker[killed]  # held: an operator takes it over

        cookies = await staff_login(cluster.url(healthy), OPERATOR, PASSWORD)
        async with ConsoleProbe(cluster.url(healthy), cookies) as console:
            for customer in customers:
                await customer.ask(FREEZE)
            await talker.ask("Can I order a new card too?")
            ack = await console.command({"type": "take_over", "session_id": held.session_id}, WAIT_S)
            assert ack["type"] == "ack", ack
            await held.heard.event(lambda e: e["type"] == "session" and e["state"] == "human", WAIT_S)
            ack = await console.command(
                {"type": "say", "session_id": held.session_id, "text": "Hello, I am Olivia."}, WAIT_S
            )
            assert ack["type"] == "ack", ack
            await held.ask("Thank you, Olivia.", answered=False)  # a person answers now, not the bot

            # kill -9 the worker mid-conversation: a line in flight, perhaps acknowledged, perhaps not
            pid = next(r.pid for r in await registry.workers() if r.worker == killed)
            await talker.say("Is there a fee?")
            os.kill(pid, signal.SIGKILL)
            await talker.lost()
            await held.lost()
            if any(e["text"] == "Is there a fee?" for e in talker.events("transcript")):
                talker.acknowledged.append("Is there a fee?")  # acknowledged just before the kill

            # the other worker's session goes on untouched
            await bystander.ask("Thanks. And how do I unfreeze it?")
            assert bystander.connected and len(bystander.events("session")) == 1

            async def gone() -> bool:
                return all(r.worker != killed for r in await registry.workers())

            await eventually(gone, "the killed worker leaves the registry", 30)
            resumed_at = time.monotonic()
            for customer in (talker, held):  # as the page does: the same session, its token
                await customer.resume(cluster.url(healthy))

            # the transcript comes back to the page, and the Brain has it as context
            history = await talker.heard.event(lambda e: e["type"] == "history", WAIT_S, resumed_at)
            said = [line["text"] for line in history["lines"] if line["speaker"] == "customer"]
            assert said[: len(talker.acknowledged)] == talker.acknowledged
            assert talker.events("session", resumed_at)[0]["state"] == "bot"
            await talker.ask("How long does it take to arrive?")

            # the operator who had taken it over stays attached: HUMAN mode, her claim, her line
            assert held.events("session", resumed_at)[0]["state"] == "human"
            history = await held.heard.event(lambda e: e["type"] == "history", WAIT_S, resumed_at)
            assert {"speaker": "operator", "text": "Hello, I am Olivia."} in history["lines"]
            since = time.monotonic()
            ack = await console.command(
                {"type": "say", "session_id": held.session_id, "text": "I am still here."}, WAIT_S
            )
            assert ack["type"] == "ack", ack
            spoken = await held.heard.event(lambda e: e["type"] == "bot_text", WAIT_S, since)
            assert (spoken["speaker"], spoken["text"]) == ("operator", "I am still here.")
            # her line, reported by the resumed session, reaches the consoles after its announcement
            listed = await console.inbox.event(
                lambda e: (
                    e["type"] == "session_list"
                    and any(s["session_id"] == held.session_id for s in e["sessions"])
                ),
                WAIT_S,
                since,
            )
            (view,) = [s for s in listed["sessions"] if s["session_id"] == held.session_id]
            assert (view["mode"], view["claimed_by"]) == ("human", OPERATOR)
            await held.ask("Great.", answered=False)

    for customer in customers:  # zero acknowledged lines lost, none stored twice
        stored = customer_lines(url, customer.session_id)
        assert [line for line in stored if line in customer.acknowledged] == customer.acknowledged
