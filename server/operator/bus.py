"""The operator bus: the two message streams between consoles and live sessions.

``CommandBus`` carries console → session ``Dispatch``es to the sessions' subscribers (one
topic per session); ``ReportBus`` carries session → console ``SessionMessage``s to every
operator hub. ``InProcessOperatorBus`` serves one process; a bus between processes (Redis)
implements the same protocols with the same JSON messages (``server.operator.messages``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from server.operator.errors import BusClosed, BusOverflow
from server.operator.messages import Dispatch, SessionMessage

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

ALL_SESSIONS = "*"  # the report bus's one topic


class MessageSubscription(Protocol[T_co]):
    def __aiter__(self) -> AsyncIterator[T_co]: ...
    async def __anext__(self) -> T_co: ...
    async def __aenter__(self) -> MessageSubscription[T_co]: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def aclose(self) -> None: ...


class CommandBus(Protocol):
    """Console → session: every subscriber of the session gets the command, in order."""

    async def publish(self, session_id: str, dispatch: Dispatch) -> int: ...
    def subscribe(self, session_id: str) -> MessageSubscription[Dispatch]: ...


class ReportBus(Protocol):
    """Session → console: every hub gets every session's messages, in the order each session sent them.

    ``publish`` never blocks the session: an implementation between processes queues the
    message and sends it from a task of its own.
    """

    def publish(self, message: SessionMessage) -> None: ...
    def subscribe(self) -> MessageSubscription[SessionMessage]: ...


class OperatorBus(Protocol):
    """Both streams; ``degraded`` while a bus between processes cannot reach its broker."""

    @property
    def commands(self) -> CommandBus: ...
    @property
    def reports(self) -> ReportBus: ...
    @property
    def degraded(self) -> bool: ...
    def on_degraded(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        """Call ``listener(degraded)`` on every change; returns the function that stops it."""
        ...

    async def aclose(self) -> None: ...


class QueuedSubscription(Generic[T]):
    """Messages read in order from ``_items``; a ``None`` there (or closed and drained) ends it.

    The base of every bus's subscriptions: subclasses fill ``_items`` and implement ``aclose``.
    """

    def __init__(self, maxsize: int) -> None:
        self._items: asyncio.Queue[T | None] = asyncio.Queue(maxsize=maxsize)
        self._closed = False

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._closed and self._items.empty():
            raise StopAsyncIteration
        item = await self._items.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        """Queue the end of iteration (dropping the oldest waiting item if full): wakes a waiting reader."""
        if self._items.full():
            self._items.get_nowait()
        self._items.put_nowait(None)


class Subscription(QueuedSubscription[T]):
    """One subscriber's messages of one topic, in order; registered at creation, removed by ``aclose``."""

    def __init__(self, topics: _Topics[T], topic: str, maxsize: int) -> None:
        super().__init__(maxsize)
        self._topics = topics
        self.topic = topic

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._topics.drop(self)
        self._end()

    @property
    def full(self) -> bool:
        return self._items.full()

    def deliver(self, item: T) -> None:
        if self._items.full():
            raise BusOverflow(f"a subscriber of {self.topic!r} is {self._items.maxsize} behind")
        self._items.put_nowait(item)


class _Topics(Generic[T]):
    """Subscriber queues by topic, in one event loop."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._subs: dict[str, list[Subscription[T]]] = {}
        self.closed = False

    def subscribe(self, topic: str) -> Subscription[T]:
        if self.closed:
            raise BusClosed("the operator bus is closed")
        sub = Subscription(self, topic, self._maxsize)
        self._subs.setdefault(topic, []).append(sub)
        return sub

    def deliver(self, topic: str, item: T) -> int:
        """Give ``item`` to every subscriber of ``topic`` (all or none); return how many got it."""
        if self.closed:
            raise BusClosed("the operator bus is closed")
        subs = list(self._subs.get(topic, ()))
        if any(s.full for s in subs):
            raise BusOverflow(f"a subscriber of {topic!r} is full")
        for sub in subs:
            sub.deliver(item)
        return len(subs)

    def count(self, topic: str | None = None) -> int:
        if topic is None:
            return sum(len(s) for s in self._subs.values())
        return len(self._subs.get(topic, ()))

    def topics(self) -> set[str]:
        return set(self._subs)

    def close(self) -> None:
        """End every subscription; later deliveries and subscriptions raise ``BusClosed``."""
        self.closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.close()

    def drop(self, sub: Subscription[T]) -> None:
        subs = self._subs.get(sub.topic)
        if subs is not None and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.topic]


class InProcessCommandBus:
    """Per-session subscriber queues in one event loop."""

    def __init__(self, *, maxsize: int = 1_000) -> None:
        self._topics: _Topics[Dispatch] = _Topics(maxsize)

    def subscribe(self, session_id: str) -> Subscription[Dispatch]:
        return self._topics.subscribe(session_id)

    async def publish(self, session_id: str, dispatch: Dispatch) -> int:
        """Deliver to every subscriber of the session; return how many got it."""
        return self._topics.deliver(session_id, dispatch)

    def subscriber_count(self, session_id: str | None = None) -> int:
        return self._topics.count(session_id)

    def sessions(self) -> set[str]:
        return self._topics.topics()

    async def aclose(self) -> None:
        self._topics.close()


class InProcessReportBus:
    """Every session's reports to every hub of this event loop."""

    def __init__(self, *, maxsize: int = 10_000) -> None:
        self._topics: _Topics[SessionMessage] = _Topics(maxsize)

    def subscribe(self) -> Subscription[SessionMessage]:
        return self._topics.subscribe(ALL_SESSIONS)

    def publish(self, message: SessionMessage) -> None:
        if not self._topics.closed:  # a session closing after the hubs is nobody's news
            self._topics.deliver(ALL_SESSIONS, message)

    async def aclose(self) -> None:
        self._topics.close()


class InProcessOperatorBus:
    """Both streams in one process: the default for a single worker."""

    def __init__(self, *, command_buffer: int = 1_000, report_buffer: int = 10_000) -> None:
        self._commands = InProcessCommandBus(maxsize=command_buffer)
        self._reports = InProcessReportBus(maxsize=report_buffer)

    @property
    def commands(self) -> InProcessCommandBus:
        return self._commands

    @property
    def reports(self) -> InProcessReportBus:
        return self._reports

    @property
    def degraded(self) -> bool:
        return False  # nothing between the sessions and the hub can fail

    def on_degraded(self, listener: Callable[[bool], None]) -> Callable[[], None]:
        return lambda: None

    async def aclose(self) -> None:
        await self._commands.aclose()
        await self._reports.aclose()
