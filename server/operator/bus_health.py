"""Health of an operator bus between processes: ``degraded`` while any of its parts cannot reach the broker.

Each long-lived part of the Redis bus (the report outbox, each report reader, each command
subscriber) calls ``failed`` when an operation fails and ``recovered`` after one succeeds.
The bus is degraded while any part is failing. One warning is logged when an outage starts
and one when it ends, never one per retry; listeners (the operator hub) hear each change.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DegradedListener = Callable[[bool], None]


class BusHealth:
    """Which parts of a bus are failing now; change notification for ``degraded``."""

    def __init__(self, name: str = "operator bus") -> None:
        self.name = name
        self._failing: dict[str, str] = {}  # part -> its first error of this outage
        self._listeners: list[DegradedListener] = []
        self._outage_started: float | None = None
        self._changed = asyncio.Event()

    @property
    def degraded(self) -> bool:
        return bool(self._failing)

    def failing(self) -> dict[str, str]:
        """Each failing part and the error it first met in this outage."""
        return dict(self._failing)

    def failed(self, part: str, error: BaseException, *, unexpected: bool = False) -> None:
        """``part`` failed and retries on its own. A broker error is an outage (one warning per
        outage); an ``unexpected`` error (a bug) is also logged with its traceback, once per outage."""
        if part in self._failing:
            return
        if unexpected:
            log.error("%s: %s failed unexpectedly; retrying", self.name, part, exc_info=error)
        self._failing[part] = f"{type(error).__name__}: {error}"
        if len(self._failing) > 1:
            log.debug("%s: %s also failing: %s", self.name, part, self._failing[part])
            return
        self._outage_started = time.monotonic()
        log.warning(
            "%s degraded: %s cannot reach the broker (%s); retrying", self.name, part, self._failing[part]
        )
        self._notify()

    def recovered(self, part: str) -> None:
        """``part`` works again (or was closed, which ends its share of the outage)."""
        if self._failing.pop(part, None) is None or self._failing:
            return
        lasted = time.monotonic() - (self._outage_started or time.monotonic())
        self._outage_started = None
        log.warning("%s recovered after %.1f s", self.name, lasted)
        self._notify()

    def on_change(self, listener: DegradedListener) -> Callable[[], None]:
        """Call ``listener(degraded)`` on every change; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    async def wait(self, degraded: bool) -> None:
        """Return once ``self.degraded`` is ``degraded``."""
        while self.degraded is not degraded:
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        degraded = self.degraded
        for listener in list(self._listeners):
            try:
                listener(degraded)
            except Exception:  # one bad listener must not stop the bus's retry loops
                log.exception("%s: a degraded-state listener failed", self.name)


class Backoff:
    """Waits between retries: ``first`` seconds, doubling up to ``cap``, jittered (no stampede)."""

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self._first = first
        self._cap = cap
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    async def wait(self) -> None:
        delay = self._next * random.uniform(0.5, 1.0)
        self._next = min(self._cap, self._next * 2)
        await asyncio.sleep(delay)
