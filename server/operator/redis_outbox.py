"""The report outbox: session reports on their way to Redis, so a session never waits for the broker.

``ReportOutbox.put`` is synchronous and never blocks or raises; an owned task sends what is
queued in batches, oldest first, and retries with backoff while Redis is unreachable. The
outbox is bounded: when it is full the oldest *droppable* report (a transcript line or a
flag: both are in the store, and a console's ``watch`` reloads the transcript) is dropped
first, and only when none is left the oldest report of any kind. Drops are logged once per
outage with their count.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from server.operator.bus_health import Backoff, BusHealth
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

OUTBOX_PART = "report outbox"


@dataclass(frozen=True)
class Outgoing:
    """One report as sent: its publisher sequence number (readers drop repeats) and its JSON."""

    seq: int
    payload: bytes
    droppable: bool


Sender = Callable[[Sequence[Outgoing]], Awaitable[None]]


class ReportOutbox:
    """Bounded FIFO of reports drained by an owned task; ``start`` on the loop, then ``aclose``."""

    def __init__(self, send: Sender, health: BusHealth, *, max_size: int = 10_000, batch: int = 256) -> None:
        if max_size < 1:
            raise ValueError("the outbox must hold at least one report")
        self._send = send
        self._health = health
        self._max_size = max_size
        self._batch = batch
        self._items: deque[Outgoing] = deque()
        self._seq = 0
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def last_seq(self) -> int:
        """The sequence number of the last report queued (0: none yet)."""
        return self._seq

    @property
    def dropped(self) -> int:
        """Reports dropped because the outbox was full, in the current outage."""
        return self._dropped

    def put(self, payload: bytes, *, droppable: bool) -> None:
        """Queue one report; never blocks. Dropped (and logged at debug) once the outbox is closed."""
        if self._closed:
            log.debug("operator bus closed: a report was not sent")
            return
        if len(self._items) >= self._max_size:
            self._drop_one()
        self._seq += 1
        self._items.append(Outgoing(self._seq, payload, droppable))
        self._empty.clear()
        self._wake.set()
        self.start()

    def start(self) -> None:
        """Start the drain task (idempotent; needs the running loop)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="operator-bus-outbox")

    async def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued was sent, at most ``timeout_s``; True when it was."""
        try:
            await asyncio.wait_for(self._empty.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def aclose(self, flush_timeout_s: float = 2.0) -> None:
        """Send what is queued (up to ``flush_timeout_s``), then stop the drain task."""
        if self._task is not None and self._items and not await self.flush(flush_timeout_s):
            log.warning(
                "operator bus closing: %d reports were not sent (Redis unreachable)", len(self._items)
            )
        self._closed = True
        await cancel_and_wait(self._task)
        self._task = None
        self._health.recovered(OUTBOX_PART)

    def _drop_one(self) -> None:
        for index, item in enumerate(self._items):
            if item.droppable:
                del self._items[index]
                break
        else:
            self._items.popleft()
        self._dropped += 1
        if self._dropped == 1:
            log.warning(
                "operator bus outbox full (%d reports): dropping the oldest transcript lines first",
                self._max_size,
            )

    async def _drain(self) -> None:
        backoff = Backoff()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                batch = list(itertools.islice(self._items, self._batch))
                try:
                    await self._send(batch)
                except Exception as exc:  # Redis away (or a bug): keep the reports, retry
                    self._health.failed(OUTBOX_PART, exc, unexpected=not isinstance(exc, RedisError))
                    await backoff.wait()
                    continue
                backoff.reset()
                self._health.recovered(OUTBOX_PART)
                last = batch[-1].seq
                while self._items and self._items[0].seq <= last:  # reports dropped meanwhile are gone
                    self._items.popleft()
                if self._dropped:
                    log.warning(
                        "operator bus: %d reports were dropped while Redis was unreachable", self._dropped
                    )
                    self._dropped = 0
            self._empty.set()
