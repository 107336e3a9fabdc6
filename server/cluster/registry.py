"""The session registry in Redis: which workers are alive, how loaded, and who holds each session.

Keys (under ``redis.key_prefix``, e.g. ``teller:``):

- ``cluster:worker:<id>``: the worker's last heartbeat (JSON ``WorkerRecord``), expiring after
  ``cluster.ttl_s``: a worker that stops writing (crash, ``kill -9``, lost network) is gone
  within seconds, with no one having to clean up after it.
- ``cluster:workers``: the ids that have written a heartbeat; readers drop those whose
  heartbeat has expired.
- ``cluster:pending:<id>``: sessions dispatched to the worker that have not connected yet
  (sorted by when their claim lapses, ``cluster.pending_ttl_s``): they count as load, so two
  dispatches between heartbeats do not both take a worker's last slot.
- ``cluster:session:<session id>``: the worker that holds (or was given) the session.

Dispatch runs as one Lua script, so concurrent dispatchers on many machines see each other's
claims. The script reads keys it builds from the prefix: one Redis server (or a primary with
replicas), not Redis Cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from server.config import Settings
from server.operator.redis_bus import redis_client

log = logging.getLogger(__name__)

# KEYS[1]: the worker set. ARGV: key prefix, session id, pending claim lifetime (ms).
_PLACE = """
local prefix = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local best, best_raw, best_ratio = nil, nil, 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local raw = redis.call('GET', prefix .. 'worker:' .. id)
  if not raw then
    redis.call('SREM', KEYS[1], id)
  else
    local ok, w = pcall(cjson.decode, raw)
    if ok and not w.draining and tonumber(w.capacity) and w.capacity > 0 then
      local pending = prefix .. 'pending:' .. id
      redis.call('ZREMRANGEBYSCORE', pending, '-inf', now)
      local load = w.active + redis.call('ZCARD', pending)
      local ratio = load / w.capacity
      if load < w.capacity and (best == nil or ratio < best_ratio or (ratio == best_ratio and id < best)) then
        best, best_raw, best_ratio = id, raw, ratio
      end
    end
  end
end
if best == nil then
  return false
end
local ttl = tonumber(ARGV[3])
local pending = prefix .. 'pending:' .. best
redis.call('ZADD', pending, now + ttl, ARGV[2])
redis.call('PEXPIRE', pending, ttl)
redis.call('SET', prefix .. 'session:' .. ARGV[2], best, 'PX', ttl)
return best_raw
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class WorkerRecord(BaseModel):
    """One worker's heartbeat: what dispatch needs to choose it, and where the edge finds it."""

    worker: str  # <hostname>-<ii>
    prefix: str  # /w/<worker>: the signalling base its customers use
    pid: int
    active: int  # live sessions
    capacity: int  # voice.max_sessions
    draining: bool  # stopping: takes no new session


class SessionRegistry:
    """The registry's reads and writes; every call may raise ``redis.exceptions.RedisError``."""

    def __init__(self, client: Redis, *, prefix: str, ttl_s: float, pending_ttl_s: float) -> None:
        self.client = client
        self._prefix = f"{prefix}cluster:"
        self._workers = f"{self._prefix}workers"
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._pending_ms = max(1, int(pending_ttl_s * 1000))
        self._place = client.register_script(_PLACE)

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionRegistry:
        """A registry on its own client for ``redis.url``; nothing connects until it is used."""
        redis = settings.redis
        return cls(
            redis_client(redis.url, socket_timeout_s=redis.socket_timeout_s),
            prefix=redis.key_prefix,
            ttl_s=settings.cluster.ttl_s,
            pending_ttl_s=settings.cluster.pending_ttl_s,
        )

    def _worker_key(self, worker_id: str) -> str:
        return f"{self._prefix}worker:{worker_id}"

    def _pending_key(self, worker_id: str) -> str:
        return f"{self._prefix}pending:{worker_id}"

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    async def beat(self, record: WorkerRecord, live: Collection[str], ended: Collection[str] = ()) -> None:
        """Write ``record`` (it expires after ``ttl_s``), own the ``live`` sessions, forget ``ended``.

        One transaction: a session that became live leaves the pending claims in the same step
        that counts it in ``active``, so dispatch never counts it twice or not at all.
        """
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._worker_key(record.worker), record.model_dump_json(), px=self._ttl_ms)
            pipe.sadd(self._workers, record.worker)
            for session_id in live:
                pipe.set(self._session_key(session_id), record.worker, px=self._ttl_ms)
            if live:
                pipe.zrem(self._pending_key(record.worker), *live)
            if ended:
                pipe.delete(*(self._session_key(s) for s in ended))
            await pipe.execute()

    async def place(self, session_id: str) -> WorkerRecord | None:
        """Claim a slot for ``session_id`` on the least loaded worker that is not draining.

        Load is (live + pending) / capacity; ties go to the lower worker id. ``None``: every
        worker is full or draining (or none is alive).
        """
        raw = await self._place(keys=[self._workers], args=[self._prefix, session_id, self._pending_ms])
        return WorkerRecord.model_validate_json(raw) if raw else None

    async def workers(self) -> list[WorkerRecord]:
        """The workers whose heartbeat has not expired, by id."""
        ids = sorted(_text(m) for m in await self.client.smembers(self._workers))
        if not ids:
            return []
        records: list[WorkerRecord] = []
        gone: list[str] = []
        raws = await self.client.mget([self._worker_key(i) for i in ids])
        for worker_id, raw in zip(ids, raws, strict=True):
            if raw is None:
                gone.append(worker_id)
                continue
            try:
                records.append(WorkerRecord.model_validate_json(raw))
            except ValidationError:
                log.warning("session registry: skipped a malformed heartbeat", extra={"worker": worker_id})
        if gone:
            await self.client.srem(self._workers, *gone)
        return records

    async def owner(self, session_id: str) -> str | None:
        """The worker that holds (or was given) ``session_id``, if any."""
        raw = await self.client.get(self._session_key(session_id))
        return _text(raw) if raw is not None else None

    async def leave(self, worker_id: str, sessions: Collection[str] = ()) -> None:
        """Remove the worker now (a clean exit) rather than when its heartbeat expires."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._worker_key(worker_id), self._pending_key(worker_id))
            pipe.srem(self._workers, worker_id)
            if sessions:
                pipe.delete(*(self._session_key(s) for s in sessions))
            await pipe.execute()

    async def aclose(self) -> None:
        await self.client.aclose()
