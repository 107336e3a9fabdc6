"""Fakes used around the code under test (named as fakes)."""

from __future__ import annotations


class FakeTime:
    """A fake monotonic clock: sleeping advances time instantly and records the delays."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
