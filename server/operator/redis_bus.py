"""The operator bus between worker processes, over Redis: the same protocols and JSON messages as in process.

Commands (console → session) go over **pub/sub**, one channel per session
(``<prefix>commands:<session_id>``): a command is only worth delivering to the worker that
holds the session *now*, ``PUBLISH`` answers how many subscribers got it (0: no worker holds
that session), and a command lost to an outage is not replayed later by surprise — the hub
times out (``timeout``, retryable) and the console resends it with the same ``client_msg_id``;
a session that did apply it confirms the resend again without applying it twice
(``SessionReport.subscribe``). Reports (session → console) go over one Redis Stream
(``server.operator.redis_reports``) through a bounded outbox.

A bus also delivers in process: its own sessions' reports reach its own hubs at once and its
own hubs' commands reach its own sessions at once, so a worker's consoles keep working with
that worker's sessions while Redis is down. ``degraded`` (with change notification) is true
while any part of the bus cannot reach Redis; each part retries with backoff on its own.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from server.operator.bus import QueuedSubscription
from server.operator.bus_health import Backoff, BusHealth
from server.operator.errors import BusClosed, BusOverflow, OperatorError
from server.operator.messages import DISPATCH, Dispatch
from server.operator.redis_reports import RedisReportBus
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# An idle command subscriber wakes this often, and PINGs every HEALTH_CHECK_S, to notice a dead link.
LISTEN_WAKE_S = 5.0
HEALTH_CHECK_S = 15


class BusUnavailable(OperatorError):
    """Redis cannot be reached and the session is not on this worker; resending later is safe."""

    retryable = True
    code = "bus_unavailable"


class RedisCommandSubscription(QueuedSubscription[Dispatch]):
    """One session's commands: from this bus's hubs at once, from other workers over its channel."""

    def __init__(self, bus: RedisCommandBus, session_id: str, number: int, maxsize: int) -> None:
        super().__init__(maxsize)
        self._bus = bus
        self.session_id = session_id
        self._part = f"commands of session {session_id} (#{number})"
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="operator-bus-commands")

    async def aclose(self) -> None:
        """Unsubscribe; queued commands can still be read, then iteration ends."""
        if self._closed:
            return
        self._closed = True
        self._bus.drop(self)
        await cancel_and_wait(self._task)
        self._bus.health.recovered(self._part)
        self._end()

    async def wait_ready(self) -> None:
        """Return once the channel subscription is confirmed by Redis (other workers can reach it)."""
        await self._ready.wait()

    @property
    def full(self) -> bool:
        return self._items.full()

    def deliver(self, dispatch: Dispatch) -> None:
        if self._items.full():
            raise BusOverflow(f"session {self.session_id!r} is {self._items.maxsize} commands behind")
        self._items.put_nowait(dispatch)

    async def _listen(self) -> None:
        channel = self._bus.channel(self.session_id)
        backoff = Backoff()
        while True:
            pubsub = self._bus.client.pubsub()
            try:
                await pubsub.subscribe(channel)
                while True:
                    message = await pubsub.get_message(timeout=LISTEN_WAKE_S)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        backoff.reset()
                        self._bus.health.recovered(self._part)
                        self._ready.set()
                    elif message["type"] == "message":
                        self._received(message["data"])
            except Exception as exc:  # Redis away (or a bug): subscribe again
                self._ready.clear()
                self._bus.health.failed(self._part, exc, unexpected=not isinstance(exc, RedisError))
            finally:
                await pubsub.aclose()
            await backoff.wait()

    def _received(self, data: bytes) -> None:
        origin, _, body = data.partition(b"\n")
        if origin == self._bus.origin:
            return  # delivered in process when it was published
        try:
            dispatch = DISPATCH.validate_json(body)
        except ValueError as exc:
            log.warning("operator bus: skipped a malformed command for %s: %s", self.session_id, exc)
            return
        if self._items.full():  # the sender times out and may resend
            log.error(
                "operator bus: session %s is %d commands behind; dropped one",
                self.session_id,
                self._items.maxsize,
            )
            return
        self._items.put_nowait(dispatch)


class RedisCommandBus:
    """``CommandBus`` over Redis pub/sub, one channel per session."""

    def __init__(
        self,
        client: Redis,
        health: BusHealth,
        *,
        prefix: str,
        origin: bytes,
        maxsize: int = 1_000,
    ) -> None:
        self.client = client
        self.health = health
        self.origin = origin
        self._prefix = prefix
        self._maxsize = maxsize
        self._subs: dict[str, list[RedisCommandSubscription]] = {}
        self._numbers = itertools.count(1)
        self._closed = False

    def channel(self, session_id: str) -> str:
        return f"{self._prefix}commands:{session_id}"

    def subscribe(self, session_id: str) -> RedisCommandSubscription:
        """Commands for ``session_id`` from now on; the Redis channel is subscribed in the background."""
        if self._closed:
            raise BusClosed("the operator bus is closed")
        sub = RedisCommandSubscription(self, session_id, next(self._numbers), self._maxsize)
        self._subs.setdefault(session_id, []).append(sub)
        return sub

    async def publish(self, session_id: str, dispatch: Dispatch) -> int:
        """Deliver to the session's subscribers here and on every worker; return how many got it.

        Raises ``BusUnavailable`` when Redis cannot be reached and no subscriber is local.
        """
        if self._closed:
            raise BusClosed("the operator bus is closed")
        local = list(self._subs.get(session_id, ()))
        if any(sub.full for sub in local):
            raise BusOverflow(f"a subscriber of {session_id!r} is full")
        for sub in local:
            sub.deliver(dispatch)
        payload = self.origin + b"\n" + dispatch.model_dump_json().encode()
        try:
            remote = int(await self.client.publish(self.channel(session_id), payload))
        except RedisError as exc:
            if local:
                return len(local)
            raise BusUnavailable("the operator bus cannot reach Redis; try again") from exc
        return max(remote, len(local))  # remote counts this worker's own channel subscribers too

    async def wait_ready(self, session_id: str) -> None:
        """Return once Redis confirmed every subscription of ``session_id`` held here."""
        for sub in list(self._subs.get(session_id, ())):
            await sub.wait_ready()

    def drop(self, sub: RedisCommandSubscription) -> None:
        subs = self._subs.get(sub.session_id)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.session_id]

    def subscriber_count(self, session_id: str | None = None) -> int:
        """Subscriptions held by this bus (of one session, or all)."""
        if session_id is None:
            return sum(len(s) for s in self._subs.values())
        return len(self._subs.get(session_id, ()))

    async def aclose(self) -> None:
        """End every subscription; later publishes and subscriptions raise ``BusClosed``."""
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.aclose()


def redis_client(url: str, *, socket_timeout_s: float = 5.0) -> Redis:
    """A client for the bus: one quick retry on a stale pooled connection, our own backoff beyond it."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=min(socket_timeout_s, 2.0),
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_S,
        retry=Retry(NoBackoff(), 1),
    )
    return client


class RedisOperatorBus:
    """``OperatorBus`` between worker processes over one Redis; ``aclose`` closes the client too."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "teller:",
        stream_maxlen: int = 10_000,
        outbox_max: int = 10_000,
        socket_timeout_s: float = 5.0,
    ) -> None:
        self.client = client
        self.origin = uuid.uuid4().hex.encode()  # this bus, as other buses see it
        self.health = BusHealth("operator bus (Redis)")
        block_ms = max(100, int(min(2.0, socket_timeout_s / 2) * 1000))  # XREAD BLOCK < socket timeout
        self._reports = RedisReportBus(
            client,
            self.health,
            stream=f"{prefix}reports",
            origin=self.origin,
            maxlen=stream_maxlen,
            outbox_max=outbox_max,
            block_ms=block_ms,
        )
        self._commands = RedisCommandBus(client, self.health, prefix=prefix, origin=self.origin)
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "teller:",
        stream_maxlen: int = 10_000,
        outbox_max: int = 10_000,
        socket_timeout_s: float = 5.0,
    ) -> RedisOperatorBus:
        """A bus on its own client for ``url``; nothing connects until the bus is used."""
        return cls(
            redis_client(url, socket_timeout_s=socket_timeout_s),
            prefix=prefix,
            stream_maxlen=stream_maxlen,
            outbox_max=outbox_max,
            socket_timeout_s=socket_timeout_s,
        )

    @property
    def commands(self) -> RedisCommandBus:
        return self._commands

    @property
    def reports(self) -> RedisReportBus:
        return self._reports

    @property
    def degraded(self) -> bool:
        return self.health.degraded

    def on_degraded(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        return self.health.on_change(listener)

    async def aclose(self) -> None:
        """Stop subscriptions, send the outbox (bounded wait), close the Redis client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._commands.aclose()
        await self._reports.aclose()
        await self.client.aclose()
