"""The operator hub: what every console sees, and how console commands reach live sessions.

Sessions publish ``SessionMessage``s on the bus's report stream (``server.operator.report``):
turns, mode changes, drafts, calls for a person, and the outcome of each command. The hub
reads that stream in one owned task and fans it out to the ``ConsoleFeed``s of its consoles.
A console command goes out on the command stream to the session that holds it and is
acknowledged only after the session reports it applied (``CommandApplied``) — for ``say``
that is after the operator's line is committed to the store. Owned by the app's lifespan.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from server.brain.brain import Brain
from server.operator.brief import HandoffBrief, ProblemLookup, build_brief
from server.operator.bus import InProcessOperatorBus, MessageSubscription, OperatorBus
from server.operator.commands import AckEvent, IdempotencyLedger, OperatorCommand, Unwatch, Watch
from server.operator.errors import ClaimConflict, CommandTimeout, UnknownSession
from server.operator.events import (
    BriefEvent,
    BusStatusEvent,
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
from server.operator.messages import (
    CommandApplied,
    Dispatch,
    DraftHeld,
    Flagged,
    ModeChanged,
    OperatorCalled,
    SessionClosed,
    SessionMessage,
    SessionOpened,
    TurnTaken,
)
from server.operator.queue import OperatorQueue, QueueReason
from server.operator.states import SessionMode
from server.store.store import Store
from server.tasks import cancel_and_wait
from server.tickets.model import Ticket

log = logging.getLogger(__name__)


def problem_lookup(brain: Brain) -> ProblemLookup:
    """Problem id → its standard question, in the knowledge version the Brain serves now."""

    def lookup(problem_id: str) -> str | None:
        ref = brain.retriever.ref(problem_id)
        return ref.problem.standard_question if ref is not None else None

    return lookup


FEED_BUFFER = 512
TRANSCRIPT_VIEW = "transcript.view"


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
    """Live sessions as consoles see them, the queue, and command routing; ``start``, then ``aclose``."""

    def __init__(
        self,
        store: Store,
        lookup: ProblemLookup,
        *,
        bus: OperatorBus | None = None,
        confirm_timeout_s: float = 5.0,
        latest_ticket: Callable[[str], Ticket | None] = lambda _sid: None,
    ) -> None:
        self.store = store
        self.queue = OperatorQueue()
        self.bus: OperatorBus = bus or InProcessOperatorBus()
        self.ledger = IdempotencyLedger()
        self._lookup = lookup
        self._latest_ticket = latest_ticket  # blocking: called off the event loop
        self._confirm_timeout_s = confirm_timeout_s
        self._views: dict[str, _LiveView] = {}
        self._feeds: set[ConsoleFeed] = set()
        self._pending: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._briefs: set[asyncio.Task[None]] = set()
        self._unwatch_bus: Callable[[], None] | None = None

    def start(self) -> None:
        """Subscribe to the sessions' reports now (so none is missed) and read them in an owned task."""
        if self._reader is None:
            self._unwatch_bus = self.bus.on_degraded(self._bus_status)
            self._reader = asyncio.create_task(self._read(self.bus.reports.subscribe()), name="operator-hub")

    async def aclose(self) -> None:
        """Stop reading reports, drop briefs being built, and close the bus."""
        if self._unwatch_bus is not None:
            self._unwatch_bus()
            self._unwatch_bus = None
        await cancel_and_wait(self._reader, *self._briefs)
        self._reader = None
        await self.bus.aclose()

    # ------------------------------------------------------------------ consoles
    def connect(self) -> ConsoleFeed:
        feed = ConsoleFeed()
        self._feeds.add(feed)
        feed.put(self._session_list())
        feed.put(self._queue_event())
        feed.put(BusStatusEvent(degraded=self.bus.degraded))
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
        if isinstance(command, Watch):  # a staff member reads the transcript: audited first
            await asyncio.to_thread(self.store.audit, operator, TRANSCRIPT_VIEW, view.session_id)
            await self._snapshot(view, feed)
            return
        if isinstance(command, Unwatch):
            return
        if view.claimed_by is not None and view.claimed_by != operator:
            raise ClaimConflict(view.session_id, view.claimed_by, operator)
        key = (command.session_id, command.client_msg_id)
        applied = self._pending[key] = asyncio.get_running_loop().create_future()
        try:
            dispatch = Dispatch(operator=operator, command=command)
            if await self.bus.commands.publish(command.session_id, dispatch) == 0:
                raise UnknownSession(command.session_id)
            await asyncio.wait_for(applied, self._confirm_timeout_s)
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
    async def _read(self, reports: MessageSubscription[SessionMessage]) -> None:
        async with reports:
            async for message in reports:
                try:
                    self._apply(message)
                except Exception:  # one bad report must not blind every console
                    log.exception("operator hub could not apply a session report")

    def _apply(self, message: SessionMessage) -> None:
        if isinstance(message, SessionOpened):
            self._opened(message)
        elif isinstance(message, SessionClosed):
            self._closed(message.session_id)
        elif isinstance(message, CommandApplied):
            self._settle(message)
        elif isinstance(message, TurnTaken):
            self._turn(message)
        elif isinstance(message, ModeChanged):
            self._mode(message)
        elif isinstance(message, OperatorCalled):
            self._call(message.session_id, message.reason)
        elif isinstance(message, Flagged):
            self._flag(message.session_id, message.flag)
        elif isinstance(message, DraftHeld):
            self._broadcast(
                DraftEvent(session_id=message.session_id, draft_id=message.draft_id, text=message.text)
            )

    def _opened(self, opened: SessionOpened) -> None:
        """A new session, or one picked up again (its worker died, its customer reconnected): it
        keeps its mode and the operator who held it, who stays attached."""
        sid = opened.session_id
        view = _LiveView(sid, opened.channel, mode=opened.mode, claimed_by=opened.claimed_by)
        if (before := self._views.get(sid)) is not None:  # the same conversation, on another worker
            view.last_utterance, view.confidence, view.flags = (
                before.last_utterance,
                before.confidence,
                before.flags,
            )
        self._views[sid] = view
        entry = self.queue.get(sid)
        if opened.claimed_by is not None and entry is not None and entry.claimed_by is None:
            self.queue.claim(sid, opened.claimed_by)
            self._broadcast(self._queue_event())
        self._broadcast(self._session_list())

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

    def _settle(self, applied: CommandApplied) -> None:
        future = self._pending.get((applied.session_id, applied.client_msg_id))
        if future is None or future.done():
            return  # another hub sent it, or its sender gave up waiting
        if applied.refusal is None:
            future.set_result(None)
        else:
            future.set_exception(applied.refusal.error())

    def _turn(self, turn: TurnTaken) -> None:
        view = self._views.get(turn.session_id)
        if view is None:
            return
        if turn.speaker == "customer":
            view.last_utterance = turn.text
        if turn.confidence is not None:
            view.confidence = turn.confidence
        line = TurnView(seq=turn.seq, speaker=turn.speaker, text=turn.text, decision=turn.decision)
        self._broadcast(TranscriptEvent(session_id=turn.session_id, turns=[line]))
        self._broadcast(self._session_list())

    def _mode(self, change: ModeChanged) -> None:
        view = self._views.get(change.session_id)
        if view is None:
            return
        view.mode = change.mode
        # Claims follow the mode: the operator who moves a session to ASSIST or HUMAN holds it
        # until it goes back to the bot or closes.
        if change.mode in (SessionMode.ASSIST, SessionMode.HUMAN):
            view.claimed_by = change.actor
            if view.session_id in self.queue:
                self.queue.claim(view.session_id, change.actor)
        else:
            view.claimed_by = None
            self.queue.remove(view.session_id)
        self._broadcast(self._queue_event())
        self._broadcast(
            ModeChangedEvent(
                session_id=change.session_id,
                previous=change.previous,
                mode=change.mode,
                actor=change.actor,
                at=change.at,
            )
        )
        self._broadcast(self._session_list())

    def _call(self, session_id: str, reason: QueueReason) -> None:
        if session_id not in self._views:
            return
        self.queue.join(session_id, reason)
        self._broadcast(self._queue_event())
        self._broadcast(self._session_list())
        task = asyncio.create_task(self._send_brief(session_id), name="operator-brief")
        self._briefs.add(task)
        task.add_done_callback(self._briefs.discard)

    async def _send_brief(self, session_id: str) -> None:
        rows = await asyncio.to_thread(self.store.transcript, session_id)
        self._broadcast(BriefEvent(session_id=session_id, brief=self._brief(session_id, rows)))

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
    def _bus_status(self, degraded: bool) -> None:
        self._broadcast(BusStatusEvent(degraded=degraded))

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
