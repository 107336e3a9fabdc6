"""With Redis, a change made in another process (``teller user disable``) wakes this worker's
consoles of that user at once, without waiting for their periodic re-check."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.auth.revocations import listener_task, redis_publisher
from server.auth.sessions import StaffSessions
from server.auth.users import Role, StaffUser, UserDirectory
from server.config import Settings
from server.devcluster.redis import RedisServer
from server.store.store import create_store_engine
from server.tasks import cancel_and_wait

pytestmark = pytest.mark.cluster
KEY = b"notice-test-key"


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_change_in_another_process_wakes_the_users_consoles(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = Settings(operator={"bus": "redis"}, redis={"url": redis_server.url, "key_prefix": "test:"})
    engine = create_store_engine(f"sqlite:///{tmp_path / 'teller.db'}")
    try:
        UserDirectory(engine, audit_key=KEY).add("otto", Role.OPERATOR, "correct horse battery")
        worker = StaffSessions(engine, idle_s=600, max_age_s=3600)
        token, session = worker.open(StaffUser("otto", Role.OPERATOR))
        woken = worker.watch(session)
        subscribed = asyncio.Event()  # pub/sub keeps nothing for a listener that comes later
        task = listener_task(settings, worker.notify_user, subscribed)
        assert task is not None
        try:
            await asyncio.wait_for(subscribed.wait(), 10)
            cli = UserDirectory(engine, audit_key=KEY, sessions_ended=redis_publisher(settings))
            assert await asyncio.to_thread(cli.disable, "otto", actor="cli:test") == 1
            await asyncio.wait_for(woken.wait(), 5)
            assert worker.check(token) is None
        finally:
            worker.unwatch(session, woken)
            await cancel_and_wait(task)
    finally:
        engine.dispose()
