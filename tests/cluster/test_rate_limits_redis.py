"""Per-address limits shared by workers: two apps' limiters on one Redis count together, and a
Redis outage falls back to the process's own buckets."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from server.config import RateRule, Settings
from server.limits.guard import CustomerLimits
from tests.cluster.redis_server import RedisServer

pytestmark = pytest.mark.cluster


def limits_on(url: str) -> CustomerLimits:
    settings = Settings(
        operator={"bus": "redis"},
        redis={"url": url, "key_prefix": "limits-test:", "socket_timeout_s": 0.5},
        limits={"ask_per_ip": RateRule(rate=0.01, burst=3)},
    )
    return CustomerLimits.from_settings(settings)


async def test_workers_share_one_window(redis_server: RedisServer) -> None:
    first, second = limits_on(redis_server.url), limits_on(redis_server.url)
    try:
        await first.check("ask_per_ip", "10.0.0.1")
        await second.check("ask_per_ip", "10.0.0.1")
        await first.check("ask_per_ip", "10.0.0.1")
        with pytest.raises(HTTPException) as limited:
            await second.check("ask_per_ip", "10.0.0.1")
        assert limited.value.status_code == 429
        assert 200 <= int(limited.value.headers["Retry-After"]) <= 300  # the window: 3 / 0.01 s
        await second.check("ask_per_ip", "10.0.0.2")  # another address
    finally:
        await first.close()
        await second.close()


async def test_without_redis_each_worker_limits_on_its_own(redis_server: RedisServer) -> None:
    url = redis_server.url
    redis_server.stop()
    limits = limits_on(url)
    try:
        for _ in range(3):
            await limits.check("ask_per_ip", "10.0.0.1")
        with pytest.raises(HTTPException):
            await limits.check("ask_per_ip", "10.0.0.1")
    finally:
        await limits.close()
