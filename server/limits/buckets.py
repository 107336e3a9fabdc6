"""In-process token buckets, one per key."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from server.config import RateRule

MAX_KEYS = 100_000  # the least recently used key is forgotten beyond this (a full bucket again)


class TokenBuckets:
    """``burst`` tokens per key, refilled at ``rate`` a second; thread-safe."""

    def __init__(self, rule: RateRule, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rule.rate
        self._burst = float(rule.burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0 when allowed, else the seconds to wait
        (nothing is taken then)."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            wait = 0.0
            if tokens >= cost:
                tokens -= cost
            else:
                wait = (cost - tokens) / self._rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
            return wait


class SessionBuckets:
    """One session's own buckets (its websocket): no key, no lock, one event loop."""

    def __init__(self, rule: RateRule, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets = TokenBuckets(rule, clock)

    def take(self, cost: float = 1.0) -> bool:
        return self._buckets.take("", cost) == 0.0
