"""The customer endpoints' rate limits: named rules from ``limits.*``, per address or per session.

HTTP routes call ``check`` (a 429 with Retry-After when over); buckets live in the process, or in
Redis when ``limits.backend`` says so (``auto``: when ``operator.bus`` is redis). While Redis is
unreachable the process's own buckets apply, so a Redis outage neither blocks nor unlimits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Literal, get_args

from fastapi import HTTPException, status
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from server.config import RateRule, Settings
from server.limits.buckets import TokenBuckets
from server.limits.redis_window import RedisWindows

log = logging.getLogger(__name__)

RuleName = Literal[
    "ask_per_ip",
    "ask_per_session",
    "feedback_per_ip",
    "feedback_per_session",
    "session_per_ip",
    "signalling_per_ip",
]
RULES: tuple[RuleName, ...] = get_args(RuleName)


class RateLimited(HTTPException):
    """429 with the seconds to wait in ``Retry-After``."""

    def __init__(self, wait_s: float) -> None:
        seconds = max(1, math.ceil(wait_s))
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many requests; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def client_address(conn: HTTPConnection) -> str:
    """The client's address (behind a trusted proxy, the one it forwarded: uvicorn's forwarded_allow_ips)."""
    return conn.client.host if conn.client else "unknown"


class CustomerLimits:
    """Every customer endpoint's buckets; ``close`` releases a Redis client."""

    def __init__(
        self,
        settings: Settings,
        redis: RedisWindows | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        limits = settings.limits
        self.settings = limits
        self._rules: dict[RuleName, RateRule] = {name: getattr(limits, name) for name in RULES}
        self._local = {name: TokenBuckets(rule, clock) for name, rule in self._rules.items()}
        self._redis = redis
        self._redis_down = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CustomerLimits:
        backend = settings.limits.backend
        if backend == "redis" or (backend == "auto" and settings.operator.bus == "redis"):
            from server.operator.redis_bus import redis_client

            client = redis_client(settings.redis.url, socket_timeout_s=settings.redis.socket_timeout_s)
            return cls(settings, RedisWindows(client, settings.redis.key_prefix))
        return cls(settings)

    async def check(self, rule: RuleName, key: str) -> None:
        """Count one request under ``rule`` for ``key``; raise ``RateLimited`` when over."""
        wait = await self._take(rule, key)
        if wait > 0:
            log.info("rate limited", extra={"rule": rule})
            raise RateLimited(wait)

    async def _take(self, rule: RuleName, key: str) -> float:
        if self._redis is not None:
            try:
                wait = await self._redis.take(rule, self._rules[rule], key)
            except RedisError:
                if not self._redis_down:
                    log.warning("rate limits: Redis unreachable; limiting in this process meanwhile")
                self._redis_down = True
            else:
                if self._redis_down:
                    log.info("rate limits: Redis is back")
                self._redis_down = False
                return wait
        return self._local[rule].take(key)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
