"""The command bus: operator commands (with their sender) routed to the process that holds the session.

``InProcessBus`` serves one process; a Redis pub/sub bus can implement the same
``CommandBus`` protocol for many replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Protocol

from server.operator.commands import Dispatch
from server.operator.errors import BusClosed, BusOverflow


class CommandSubscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Dispatch]: ...
    async def __anext__(self) -> Dispatch: ...
    async def aclose(self) -> None: ...


class CommandBus(Protocol):
    async def publish(self, session_id: str, dispatch: Dispatch) -> int: ...
    def subscribe(self, session_id: str) -> CommandSubscription: ...


class Subscription:
    """Commands for one session, in order; registered at creation, removed by ``aclose``."""

    def __init__(self, bus: InProcessBus, session_id: str, maxsize: int) -> None:
        self._bus = bus
        self.session_id = session_id
        self._items: asyncio.Queue[Dispatch | None] = asyncio.Queue(maxsize=maxsize)
        self._closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Dispatch:
        if self._closed and self._items.empty():
            raise StopAsyncIteration
        item = await self._items.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._bus._drop(self)
        if self._items.full():
            self._items.get_nowait()
        self._items.put_nowait(None)  # wakes a waiting reader

    @property
    def full(self) -> bool:
        return self._items.full()

    def deliver(self, dispatch: Dispatch) -> None:
        if self._items.full():
            raise BusOverflow(f"subscriber of session {self.session_id!r} is {self._items.maxsize} behind")
        self._items.put_nowait(dispatch)


class InProcessBus:
    """Per-session subscriber queues in one event loop."""

    def __init__(self, *, maxsize: int = 1_000) -> None:
        self._maxsize = maxsize
        self._subs: dict[str, list[Subscription]] = {}
        self._closed = False

    def subscribe(self, session_id: str) -> Subscription:
        if self._closed:
            raise BusClosed("the command bus is closed")
        sub = Subscription(self, session_id, self._maxsize)
        self._subs.setdefault(session_id, []).append(sub)
        return sub

    async def publish(self, session_id: str, dispatch: Dispatch) -> int:
        """Deliver to every subscriber of the session; return how many got it."""
        if self._closed:
            raise BusClosed("the command bus is closed")
        subs = list(self._subs.get(session_id, ()))
        if any(s.full for s in subs):
            raise BusOverflow(f"a subscriber of session {session_id!r} is full")
        for sub in subs:
            sub.deliver(dispatch)
        return len(subs)

    def subscriber_count(self, session_id: str | None = None) -> int:
        if session_id is None:
            return sum(len(s) for s in self._subs.values())
        return len(self._subs.get(session_id, ()))

    def sessions(self) -> set[str]:
        return set(self._subs)

    async def aclose(self) -> None:
        """End every subscription; later publishes and subscribes raise ``BusClosed``."""
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()

    def _drop(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.session_id)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.session_id]
