"""Per-key limits shared by workers: a fixed window counter in Redis (INCR + PEXPIRE in one Lua
script, so the first request of a window starts its expiry atomically).

A rule ``{rate, burst}`` becomes ``burst`` requests per window of ``burst / rate`` seconds: the
same long-run rate as the token bucket, with up to two bursts at a window's edge.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.config import RateRule

log = logging.getLogger(__name__)

WINDOW_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisWindows:
    """Fixed windows under ``<prefix>limit:<name>:<key>``; every call may raise ``RedisError``."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script: Any = client.register_script(WINDOW_SCRIPT)

    async def take(self, name: str, rule: RateRule, key: str) -> float:
        """0 when allowed, else the seconds until the window ends."""
        window_ms = max(1, round(rule.burst / rule.rate * 1000))
        count, ttl_ms = await self._script(keys=[f"{self._prefix}limit:{name}:{key}"], args=[window_ms])
        return 0.0 if int(count) <= rule.burst else max(int(ttl_ms), 1) / 1000

    async def aclose(self) -> None:
        try:
            await self._client.aclose()
        except RedisError:
            log.debug("closing the rate-limit Redis client failed", exc_info=True)
