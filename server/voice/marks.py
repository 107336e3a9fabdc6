"""Monotonic timestamps of a session's milestones, for the latency benchmark and logs."""

from __future__ import annotations

import time
from collections import defaultdict


class Marks:
    """``mark("asr_done")`` appends now; ``after("tts_first", t)`` finds the first one past ``t``."""

    def __init__(self) -> None:
        self._times: defaultdict[str, list[float]] = defaultdict(list)

    def mark(self, name: str) -> None:
        self._times[name].append(time.monotonic())

    def after(self, name: str, since: float) -> float | None:
        return next((t for t in self._times[name] if t >= since), None)

    def all(self, name: str) -> list[float]:
        return list(self._times[name])
