"""Fixtures of the many-worker tests: a real Redis per test, and two operator buses ("workers") on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.operator.redis_bus import RedisOperatorBus
from tests.cluster.redis_server import RedisServer


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for a whole module (its tests share workers that are slow to start)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def worker_bus(server: RedisServer, **options: int) -> RedisOperatorBus:
    """One worker's bus: short timeouts so an outage is noticed at once."""
    return RedisOperatorBus.from_url(server.url, prefix="test:", socket_timeout_s=2.0, **options)


@pytest.fixture()
async def workers(redis_server: RedisServer) -> AsyncIterator[tuple[RedisOperatorBus, RedisOperatorBus]]:
    """Two workers' buses on one Redis: A (the operator's) and B (the session's)."""
    a, b = worker_bus(redis_server), worker_bus(redis_server)
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()
