"""Notices that a user's staff sessions ended, between processes over Redis pub/sub.

With ``operator.bus: redis`` a logout, and every ``teller user`` change that ends sessions,
publishes the user's name on ``<prefix>staff-sessions-ended``; every worker listens and wakes
the open consoles of that user, which re-check their session in the store at once. A notice only
hurries the re-check: the store stays the truth and consoles re-check it every
``auth.session_recheck_s`` anyway, so a notice lost to a Redis outage costs at most that long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.config import Settings

log = logging.getLogger(__name__)

CHANNEL = "staff-sessions-ended"
RETRY_S = 1.0


def channel(settings: Settings) -> str:
    return f"{settings.redis.key_prefix}{CHANNEL}"


def notices_enabled(settings: Settings) -> bool:
    return settings.operator.bus == "redis"


def redis_publisher(settings: Settings) -> Callable[[str], None] | None:
    """A blocking publisher of "this user's sessions ended" (None without Redis); best effort."""
    if not notices_enabled(settings):
        return None
    name = channel(settings)
    timeout = settings.redis.socket_timeout_s
    url = settings.redis.url

    def publish(user: str) -> None:
        try:
            with SyncRedis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout) as client:
                client.publish(name, user)
        except (RedisError, OSError) as exc:
            log.warning("could not send a session-ended notice; consoles re-check on their timer: %s", exc)

    return publish


async def listen(
    redis: Redis, name: str, on_ended: Callable[[str], None], subscribed: asyncio.Event | None = None
) -> None:
    """Call ``on_ended(user)`` for each notice, reconnecting after an outage; runs until cancelled.
    ``subscribed`` is set once it listens."""
    while True:
        try:
            async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(name)
                if subscribed is not None:
                    subscribed.set()
                async for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        on_ended(data.decode("utf-8", "replace"))
        except (RedisError, OSError) as exc:
            log.warning("session-ended notices interrupted, retrying: %s", exc)
            await asyncio.sleep(RETRY_S)


def listener_task(
    settings: Settings, on_ended: Callable[[str], None], subscribed: asyncio.Event | None = None
) -> asyncio.Task[None] | None:
    """The listening task of this worker (its owner cancels it); None without Redis."""
    if not notices_enabled(settings):
        return None
    redis = Redis.from_url(settings.redis.url, socket_connect_timeout=settings.redis.socket_timeout_s)

    async def run() -> None:
        try:
            await listen(redis, channel(settings), on_ended, subscribed)
        finally:
            await redis.aclose()

    return asyncio.create_task(run(), name="staff-session-notices")
