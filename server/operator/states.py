"""The session mode machine: BOT ⇄ ASSIST ⇄ HUMAN, BOT ⇄ HUMAN, any → CLOSED.

Every move is written to the audit sink before it is acknowledged: if the audit
write fails, the mode does not change and the error propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from server.operator.errors import IllegalTransition

SYSTEM_ACTOR = "system"
MODE_CHANGE = "mode_change"
SESSION_RESUMED = "session_resumed"  # a session picked up again (another worker, a reconnect)


class SessionMode(StrEnum):
    BOT = "bot"  # the Brain answers
    ASSIST = "assist"  # the Brain drafts, an operator approves
    HUMAN = "human"  # the operator speaks through the avatar; the Brain is silent
    CLOSED = "closed"


_M = SessionMode
LEGAL_MOVES: Mapping[SessionMode, frozenset[SessionMode]] = {
    _M.BOT: frozenset({_M.ASSIST, _M.HUMAN, _M.CLOSED}),
    _M.ASSIST: frozenset({_M.BOT, _M.HUMAN, _M.CLOSED}),
    _M.HUMAN: frozenset({_M.ASSIST, _M.BOT, _M.CLOSED}),
    _M.CLOSED: frozenset(),
}


def is_legal(current: SessionMode, wanted: SessionMode) -> bool:
    return wanted in LEGAL_MOVES[current]


class AuditSink(Protocol):
    """Where moves are recorded; ``server.store.Store`` satisfies it."""

    def audit(self, actor: str, action: str, session_id: str | None, **detail: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Transition:
    """One acknowledged move: who, when, why."""

    session_id: str
    previous: SessionMode
    mode: SessionMode
    actor: str
    why: str
    at: datetime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ModeMachine:
    """The current mode of one session; ``move`` is the only way to change it."""

    def __init__(
        self,
        session_id: str,
        audit: AuditSink,
        *,
        mode: SessionMode = SessionMode.BOT,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._session_id = session_id
        self._audit = audit
        self._mode = mode
        self._clock = clock

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def mode(self) -> SessionMode:
        return self._mode

    def can(self, wanted: SessionMode) -> bool:
        return is_legal(self._mode, wanted)

    def move(self, wanted: SessionMode, *, actor: str = SYSTEM_ACTOR, why: str) -> Transition:
        """Audit, then apply, a legal move; raise ``IllegalTransition`` on any other."""
        current = self._mode
        if not is_legal(current, wanted):
            raise IllegalTransition(current, wanted)
        at = self._clock()
        self._audit.audit(
            actor,
            MODE_CHANGE,
            self._session_id,
            previous=current.value,
            mode=wanted.value,
            why=why,
            at=at.isoformat(),
        )
        self._mode = wanted
        return Transition(self._session_id, current, wanted, actor, why, at)


def resumed_mode(moves: Iterable[tuple[str, SessionMode]]) -> tuple[SessionMode, str | None]:
    """The mode a session picked up again starts in, and the operator who holds it, from its audited
    moves (actor, mode), oldest first.

    A close by the system (the customer's call ended: a hang-up, a lost connection, an idle
    timeout) ends the call, not the conversation: it is skipped, so the session resumes where it
    was. A close by an operator is final. The operator who moved it to ASSIST or HUMAN holds it
    until it goes back to the bot, as the hub's claims do.
    """
    mode, holder = SessionMode.BOT, None
    for actor, moved_to in moves:
        if moved_to is SessionMode.CLOSED and actor == SYSTEM_ACTOR:
            continue
        mode = moved_to
        if moved_to in (SessionMode.ASSIST, SessionMode.HUMAN):
            holder = actor
        elif moved_to is SessionMode.BOT:
            holder = None
    return mode, holder
