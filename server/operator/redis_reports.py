"""Session → console reports over one Redis Stream (``<prefix>reports``).

Why a stream and not pub/sub: a hub that loses Redis (restart, network) reconnects and
``XREAD``s from the last entry it saw, so it catches up instead of missing what was said
meanwhile; a new hub reads the retained history (``MAXLEN ~``) and so learns the sessions
already live on other workers. Each entry holds the unchanged ``SessionMessage`` JSON
(field ``m``), the publishing bus (``w``) and that bus's sequence number (``n``): readers
drop repeats (a batch resent after a lost reply) and the entries of their own bus published
after they subscribed, which they got directly, in process, even while Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from server.operator.bus import QueuedSubscription
from server.operator.bus_health import Backoff, BusHealth
from server.operator.errors import BusClosed
from server.operator.messages import SESSION_MESSAGE, Flagged, SessionMessage, TurnTaken
from server.operator.redis_outbox import Outgoing, ReportOutbox
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

READ_BATCH = 256
MAX_PUBLISHERS = 4_096  # buses whose last sequence number a reader remembers
StreamId = tuple[int, int]


def parse_stream_id(raw: bytes | str) -> StreamId:
    """``b"1700000000000-3"`` → ``(1700000000000, 3)``, for ordering entry ids."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    millis, _, seq = text.partition("-")
    return int(millis), int(seq or 0)


def _entries(reply: object) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of an ``XREAD`` reply on one stream (RESP2: ``[[stream, [(id, fields), ...]]]``)."""
    if not reply:
        return []  # the block timed out
    if not isinstance(reply, list):
        raise TypeError(f"unexpected XREAD reply {type(reply).__name__}: the bus speaks RESP2")
    return [(entry_id, fields) for _stream, entries in reply for entry_id, fields in entries]


class _SeenPublishers:
    """The last sequence number read from each publishing bus (LRU): repeats are dropped."""

    def __init__(self) -> None:
        self._last: OrderedDict[bytes, int] = OrderedDict()

    def advance(self, publisher: bytes, seq: int) -> bool:
        """True when ``seq`` is new for ``publisher``."""
        if self._last.get(publisher, 0) >= seq:
            return False
        self._last[publisher] = seq
        self._last.move_to_end(publisher)
        while len(self._last) > MAX_PUBLISHERS:
            self._last.popitem(last=False)
        return True


class RedisReportSubscription(QueuedSubscription[SessionMessage]):
    """One hub's reports: this bus's own, delivered at once, and every other bus's, read from the stream."""

    def __init__(self, bus: RedisReportBus, number: int, maxsize: int) -> None:
        super().__init__(maxsize)
        self._bus = bus
        self._part = f"report reader #{number}"
        self._own_mark = bus.outbox.last_seq  # this bus's later reports come in process
        self._overflowed = False
        self._task = asyncio.get_running_loop().create_task(
            bus.read_stream(self._part, self._items.put, own_mark=self._own_mark), name="operator-bus-reports"
        )

    async def aclose(self) -> None:
        """Stop reading; queued reports can still be read, then iteration ends."""
        if self._closed:
            return
        self._closed = True
        self._bus.drop(self)
        await cancel_and_wait(self._task)
        self._bus.health.recovered(self._part)
        self._end()

    def deliver_local(self, message: SessionMessage) -> None:
        """A report of this bus's own sessions; dropped (logged once) if the hub is ``maxsize`` behind."""
        if self._items.full():
            if not self._overflowed:
                log.error("operator bus: a hub is %d reports behind; dropping reports", self._items.maxsize)
            self._overflowed = True
            return
        self._overflowed = False
        self._items.put_nowait(message)


class RedisReportBus:
    """``ReportBus`` over a Redis Stream; ``publish`` queues in the outbox and never blocks."""

    def __init__(
        self,
        client: Redis,
        health: BusHealth,
        *,
        stream: str,
        origin: bytes,
        maxlen: int = 10_000,
        outbox_max: int = 10_000,
        block_ms: int = 2_000,
        maxsize: int = 10_000,
    ) -> None:
        self._redis = client
        self.health = health
        self.stream = stream
        self._origin = origin
        self._maxlen = maxlen
        self._block_ms = block_ms
        self._maxsize = maxsize
        self.outbox = ReportOutbox(self._send, health, max_size=outbox_max)
        self._subs: list[RedisReportSubscription] = []
        self._numbered = 0
        self._closed = False

    def publish(self, message: SessionMessage) -> None:
        """Hand ``message`` to this bus's hubs now and to every other bus through the outbox."""
        if self._closed:
            return  # a session closing after the hubs is nobody's news
        for sub in self._subs:
            sub.deliver_local(message)
        droppable = isinstance(message, TurnTaken | Flagged)
        self.outbox.put(SESSION_MESSAGE.dump_json(message), droppable=droppable)

    def subscribe(self) -> RedisReportSubscription:
        """Every report from now on (own bus) and the stream's retained history on (other buses)."""
        if self._closed:
            raise BusClosed("the operator bus is closed")
        self._numbered += 1
        sub = RedisReportSubscription(self, self._numbered, self._maxsize)
        self._subs.append(sub)
        return sub

    def drop(self, sub: RedisReportSubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    async def aclose(self, flush_timeout_s: float = 2.0) -> None:
        """End the subscriptions, send what the outbox holds (bounded wait), stop its task."""
        for sub in list(self._subs):
            await sub.aclose()
        await self.outbox.aclose(flush_timeout_s)
        self._closed = True

    async def _send(self, batch: Sequence[Outgoing]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in batch:
                fields: dict[Any, Any] = {"m": item.payload, "w": self._origin, "n": item.seq}
                pipe.xadd(self.stream, fields, maxlen=self._maxlen, approximate=True)
            await pipe.execute()

    async def read_stream(
        self, part: str, put: Callable[[SessionMessage], Awaitable[None]], *, own_mark: int
    ) -> None:
        """Read the stream from its start, forever; back off while Redis is away. This bus's own
        reports are skipped from ``own_mark`` on: the reader's subscription got those in process."""
        last: bytes = b"0-0"
        seen = _SeenPublishers()
        backoff = Backoff()
        lost_contact = False
        while True:
            try:
                if lost_contact:
                    last = await self._resume_point(last)
                reply = await self._redis.xread({self.stream: last}, count=READ_BATCH, block=self._block_ms)
                entries = _entries(reply)
            except Exception as exc:  # Redis away (or a bug): read on from ``last`` when it is back
                self.health.failed(part, exc, unexpected=not isinstance(exc, RedisError))
                lost_contact = True
                await backoff.wait()
                continue
            lost_contact = False
            backoff.reset()
            self.health.recovered(part)
            for entry_id, fields in entries:
                last = entry_id
                message = self._decode(entry_id, fields, seen, own_mark)
                if message is not None:
                    await put(message)

    async def _resume_point(self, last: bytes) -> bytes:
        """Where to read on after an outage: ``last``, or the start if the stream was lost meanwhile."""
        try:
            info = await self._redis.xinfo_stream(self.stream)
        except ResponseError:  # no such key: Redis came back empty; read whatever is added
            return b"0-0"
        if parse_stream_id(info["last-generated-id"]) < parse_stream_id(last):
            log.warning("operator bus: the report stream was reset (Redis restarted empty); reading it anew")
            return b"0-0"
        return last

    def _decode(
        self, entry_id: bytes, fields: dict[bytes, bytes], seen: _SeenPublishers, own_mark: int
    ) -> SessionMessage | None:
        publisher = fields.get(b"w", b"")
        try:
            seq = int(fields[b"n"])
            if publisher == self._origin and seq > own_mark:
                return None  # delivered in process
            message = SESSION_MESSAGE.validate_json(fields[b"m"])
        except (KeyError, ValueError) as exc:  # ValidationError is a ValueError
            log.warning("operator bus: skipped malformed report %r: %s", entry_id, exc)
            return None
        return message if seen.advance(publisher, seq) else None
