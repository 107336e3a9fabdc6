"""Which operator bus a worker uses: in process (one worker, the default) or Redis (many workers)."""

from __future__ import annotations

from server.config import Settings
from server.operator.bus import InProcessOperatorBus, OperatorBus


def open_operator_bus(settings: Settings) -> OperatorBus:
    """The bus ``operator.bus`` names; a Redis bus connects lazily (and retries) once used."""
    if settings.operator.bus == "redis":
        from server.operator.redis_bus import RedisOperatorBus  # redis is imported only when configured

        redis = settings.redis
        return RedisOperatorBus.from_url(
            redis.url,
            prefix=redis.key_prefix,
            stream_maxlen=redis.report_stream_maxlen,
            outbox_max=redis.outbox_max,
            socket_timeout_s=redis.socket_timeout_s,
        )
    return InProcessOperatorBus()
