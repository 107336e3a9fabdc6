"""Frame clocks: when frame n is due, computed from a monotonic start time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class FrameClock:
    """Paces frames by timestamps: frame ``n`` is due at ``start + n / fps``.

    ``wait_for(n)`` sleeps only until that deadline. When the caller falls more than
    ``max_lag_frames`` behind (a stalled event loop), the clock re-anchors on the
    current frame instead of bursting to catch up; no frame or audio is dropped.
    """

    def __init__(
        self,
        fps: int,
        *,
        max_lag_frames: int = 5,
        time_fn: Callable[[], float] = time.monotonic,
        sleep_fn: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.fps = fps
        self.max_lag_frames = max_lag_frames
        self._time = time_fn
        self._sleep = sleep_fn
        self._start: float | None = None
        self._anchor_frame = 0
        self.resyncs = 0

    @property
    def started(self) -> bool:
        """True after the first ``wait_for``."""
        return self._start is not None

    def deadline(self, n: int) -> float:
        """Monotonic time at which frame ``n`` is due."""
        if self._start is None:
            raise RuntimeError("clock not started")
        return self._start + (n - self._anchor_frame) / self.fps

    async def wait_for(self, n: int) -> float:
        """Wait until frame ``n`` is due; return how late (seconds) it is, >= 0."""
        now = self._time()
        if self._start is None:
            self._start = now
            self._anchor_frame = n
            return 0.0
        delay = self.deadline(n) - now
        if delay > 0:
            await self._sleep(delay)
            return 0.0
        if -delay > self.max_lag_frames / self.fps:
            self._start = now
            self._anchor_frame = n
            self.resyncs += 1
        return -delay


class OfflineClock(FrameClock):
    """A clock that never waits: renders as fast as possible (offline video, benchmarks)."""

    def __init__(self, fps: int) -> None:
        super().__init__(fps, time_fn=lambda: 0.0)

    async def wait_for(self, n: int) -> float:
        """Return at once, yielding to the event loop so other tasks still run."""
        if self._start is None:
            self._start = 0.0
            self._anchor_frame = n
        await asyncio.sleep(0)
        return 0.0
