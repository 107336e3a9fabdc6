"""The operator hub: what every console sees, and how console commands reach live sessions.

Sessions report to the hub through ``SessionReport`` (turns, mode changes, drafts, calls
for a human); consoles read ``ConsoleFeed``s and send commands through ``execute``.
A command is published on the bus to the session that holds it, and acknowledged only
after the session confirms it applied it (``confirm``) — for ``say`` that is after the
operator's line is committed to the store. Owned by the app's lifespan: one per process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from server.brain.brain import Brain
from server.operator.brief import HandoffBrief, ProblemLookup, build_brief
from server.operator.bus import InProcessBus, Subscription
from server.operator.commands import (
    AckEvent,
    Dispatch,
    IdempotencyLedger,
    OperatorCommand,
    Unwatch,
    Watch,
)
from server.operator.errors import ClaimConflict, CommandTimeout, OperatorError, UnknownSession
from server.operator.events import (
    BriefEvent,
    ClosedEvent,
    ConsoleEvent,
    DraftEvent,
    ModeChangedEvent,
    QueueEvent,
    QueueItem,
    SessionListEvent,
    SessionSummary,
    TranscriptEvent,
    TurnView,
)
from server.operator.queue import OperatorQueue, QueueReason
from server.operator.states import SessionMode, Transition
from server.store.store import Store
from server.tickets.model import Ticket

log = logging.getLogger(__name__)


def problem_lookup(brain: Brain) -> ProblemLookup:
    """Problem id → its standard question, in the knowledge version the Brain serves now."""

    def lookup(problem_id: str) -> str | None:
        ref = brain.retriever.ref(problem_id)
        return ref.problem.standard_question if ref is not None else None

    return lookup


FEED_BUFFER = 512


@dataclass
class _LiveView:
    session_id: str
    channel: str
    mode: SessionMode = SessionMode.BOT
    claimed_by: str | None = None
    last_utterance: str = ""
    confidence: float | None = None
    flags: set[str] = field(default_factory=set)

    def summary(self, queue: OperatorQueue) -> SessionSummary:
        flags = set(self.flags)
        if (entry := queue.get(self.session_id)) is not None:
            flags.add(f"queued:{entry.reason.value}")
        return SessionSummary(
            session_id=self.session_id,
            mode=self.mode,
            channel=self.channel,
            claimed_by=self.claimed_by,
            last_utterance=self.last_utterance,
            confidence=self.confidence,
            flags=sorted(flags),
        )


class ConsoleFeed:
    """The events one console connection has not read yet; a console that falls far behind
    loses its oldest events and should re-``watch`` (the live list is re-sent on every change)."""

    def __init__(self) -> None:
        self._events: asyncio.Queue[ConsoleEvent] = asyncio.Queue(maxsize=FEED_BUFFER)

    def put(self, event: ConsoleEvent) -> None:
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(event)

    async def get(self) -> ConsoleEvent:
        return await self._events.get()


class OperatorHub:
    """Live sessions of this process as the consoles see them, the queue, and command routing."""

    def __init__(
        self,
        store: Store,
        lookup: ProblemLookup,
        *,
        bus: InProcessBus | None = None,
        confirm_timeout_s: float = 5.0,
        latest_ticket: Callable[[str], Ticket | None] = lambda _sid: None,
    ) -> None:
        self.store = store
        self.queue = OperatorQueue()
        self.bus = bus or InProcessBus()
        self.ledger = IdempotencyLedger()
        self._lookup = lookup
        self._latest_ticket = latest_ticket  # blocking: called off the event loop
        self._confirm_timeout_s = confirm_timeout_s
        self._views: dict[str, _LiveView] = {}
        self._feeds: set[ConsoleFeed] = set()
        self._pending: dict[tuple[str, str], asyncio.Future[None]] = {}

    # ------------------------------------------------------------------ consoles
    def connect(self) -> ConsoleFeed:
        feed = ConsoleFeed()
        self._feeds.add(feed)
        feed.put(self._session_list())
        feed.put(self._queue_event())
        return feed

    def disconnect(self, feed: ConsoleFeed) -> None:
        self._feeds.discard(feed)

    def sessions(self) -> list[SessionSummary]:
        return self._session_list().sessions

    async def execute(self, operator: str, command: OperatorCommand, feed: ConsoleFeed) -> AckEvent:
        """Apply ``command`` once per (operator, client_msg_id); raise ``OperatorError`` on refusal."""

        async def run(cmd: OperatorCommand) -> None:
            await self._run(operator, cmd, feed)

        return await self.ledger.execute(operator, command, run)

    async def _run(self, operator: str, command: OperatorCommand, feed: ConsoleFeed) -> None:
        view = self._views.get(command.session_id)
        if view is None:
            raise UnknownSession(command.session_id)
        if isinstance(command, Watch):
            await self._snapshot(view, feed)
            return
        if isinstance(command, Unwatch):
            return
        if view.claimed_by is not None and view.claimed_by != operator:
            raise ClaimConflict(view.session_id, view.claimed_by, operator)
        key = (command.session_id, command.client_msg_id)
        confirmed = self._pending[key] = asyncio.get_running_loop().create_future()
        try:
            if await self.bus.publish(command.session_id, Dispatch(operator, command)) == 0:
                raise UnknownSession(command.session_id)
            await asyncio.wait_for(confirmed, self._confirm_timeout_s)
        except TimeoutError as exc:
            raise CommandTimeout(f"session {command.session_id!r} did not confirm in time") from exc
        finally:
            self._pending.pop(key, None)

    async def _snapshot(self, view: _LiveView, feed: ConsoleFeed) -> None:
        rows = await asyncio.to_thread(self.store.transcript, view.session_id)
        turns = [TurnView(seq=r.seq, speaker=r.speaker, text=r.text, decision=r.decision) for r in rows]
        feed.put(TranscriptEvent(session_id=view.session_id, turns=turns, full=True))
        if rows:
            ticket = await asyncio.to_thread(self._latest_ticket, view.session_id)
            brief = self._brief(view.session_id, rows)
            feed.put(BriefEvent(session_id=view.session_id, brief=brief, ticket=ticket))

    # ------------------------------------------------------------------ sessions
    def opened(self, session_id: str, channel: str) -> SessionReport:
        self._views[session_id] = _LiveView(session_id, channel)
        self._broadcast(self._session_list())
        return SessionReport(self, session_id)

    def _closed(self, session_id: str) -> None:
        if self._views.pop(session_id, None) is None:
            return
        self.queue.remove(session_id)
        for (sid, _), future in list(self._pending.items()):
            if sid == session_id and not future.done():
                future.set_exception(UnknownSession(session_id))
        self._broadcast(ClosedEvent(session_id=session_id))
        self._broadcast(self._queue_event())
        self._broadcast(self._session_list())

    def _confirm(self, session_id: str, client_msg_id: str, error: OperatorError | None) -> None:
        future = self._pending.get((session_id, client_msg_id))
        if future is None or future.done():
            return
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    def _turn(self, session_id: str, turn: TurnView, confidence: float | None) -> None:
        view = self._views.get(session_id)
        if view is None:
            return
        if turn.speaker == "customer":
            view.last_utterance = turn.text
        if confidence is not None:
            view.confidence = confidence
        self._broadcast(TranscriptEvent(session_id=session_id, turns=[turn]))
        self._broadcast(self._session_list())

    def _mode(self, transition: Transition) -> None:
        view = self._views.get(transition.session_id)
        if view is None:
            return
        view.mode = transition.mode
        # Claims follow the mode: the operator who moves a session to ASSIST or HUMAN holds it
        # until it goes back to the bot or closes.
        if transition.mode in (SessionMode.ASSIST, SessionMode.HUMAN):
            view.claimed_by = transition.actor
            if view.session_id in self.queue:
                self.queue.claim(view.session_id, transition.actor)
        else:
            view.claimed_by = None
            self.queue.remove(view.session_id)
        self._broadcast(self._queue_event())
        self._broadcast(
            ModeChangedEvent(
                session_id=transition.session_id,
                previous=transition.previous,
                mode=transition.mode,
                actor=transition.actor,
                at=transition.at,
            )
        )
        self._broadcast(self._session_list())

    async def _call(self, session_id: str, reason: QueueReason) -> HandoffBrief | None:
        view = self._views.get(session_id)
        if view is None:
            return None
        self.queue.join(session_id, reason)
        self._broadcast(self._queue_event())
        self._broadcast(self._session_list())
        rows = await asyncio.to_thread(self.store.transcript, session_id)
        brief = self._brief(session_id, rows)
        self._broadcast(BriefEvent(session_id=session_id, brief=brief))
        return brief

    def _flag(self, session_id: str, flag: str) -> None:
        view = self._views.get(session_id)
        if view is not None and flag not in view.flags:
            view.flags.add(flag)
            self._broadcast(self._session_list())

    def _brief(self, session_id: str, rows: Sequence[object]) -> HandoffBrief:
        entry = self.queue.get(session_id)
        return build_brief(
            rows,  # type: ignore[arg-type]  # store rows satisfy TranscriptRow
            self._lookup,
            session_id=session_id,
            reason=entry.reason if entry else None,
        )

    # ------------------------------------------------------------------ fan-out
    def _broadcast(self, event: ConsoleEvent) -> None:
        for feed in self._feeds:
            feed.put(event)

    def _session_list(self) -> SessionListEvent:
        return SessionListEvent(sessions=[v.summary(self.queue) for v in self._views.values()])

    def _queue_event(self) -> QueueEvent:
        return QueueEvent(
            entries=[
                QueueItem(
                    session_id=e.session_id,
                    reason=e.reason,
                    priority=e.priority,
                    joined_at=e.joined_at,
                    claimed_by=e.claimed_by,
                )
                for e in self.queue.entries()
            ]
        )


class SessionReport:
    """What one live session tells the hub; the session side of the seam."""

    def __init__(self, hub: OperatorHub, session_id: str) -> None:
        self._hub = hub
        self.session_id = session_id

    def turn(
        self,
        seq: int,
        speaker: str,
        text: str,
        *,
        decision: str | None = None,
        confidence: float | None = None,
    ) -> None:
        view = TurnView(seq=seq, speaker=speaker, text=text, decision=decision)
        self._hub._turn(self.session_id, view, confidence)

    def mode_changed(self, transition: Transition) -> None:
        self._hub._mode(transition)

    async def call_operator(self, reason: QueueReason) -> HandoffBrief | None:
        return await self._hub._call(self.session_id, reason)

    def flag(self, flag: str) -> None:
        self._hub._flag(self.session_id, flag)

    def draft(self, draft_id: str, text: str) -> None:
        self._hub._broadcast(DraftEvent(session_id=self.session_id, draft_id=draft_id, text=text))

    def confirm(self, client_msg_id: str, error: OperatorError | None = None) -> None:
        self._hub._confirm(self.session_id, client_msg_id, error)

    def closed(self) -> None:
        self._hub._closed(self.session_id)

    def subscribe(self) -> Subscription:
        return self._hub.bus.subscribe(self.session_id)
