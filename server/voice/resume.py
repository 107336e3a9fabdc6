"""A session picked up again: its conversation, mode and operator, rebuilt from the store.

A session id outlives the connection that opened it. When a page loses its connection (its
worker was killed, the network dropped) it resumes the same session, perhaps on another worker
(``POST /api/v1/session/resume``). Every worker that opens a session first reads what the store
holds of it (``load_history``): nothing for a new session, else its transcript (masked) and its
audited mode changes. The Brain gets the transcript back as its memory (``pick_up``), the
takeover gate starts in the mode the session was in, the hubs learn who holds it
(``SessionOpened``), and the page gets its transcript (``HistoryEvent``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from server.brain.brain import Brain
from server.brain.memory import Speaker, Turn
from server.operator.states import MODE_CHANGE, SESSION_RESUMED, SYSTEM_ACTOR, SessionMode, resumed_mode
from server.store.store import Store
from server.store.tables import AuditRow, TurnRow
from server.voice.events import HistoryEvent, HistoryLine

log = logging.getLogger(__name__)

HISTORY_LINES = 40  # the most recent lines a resumed page is sent (one data-channel message)
_SPEAKERS = {s.value: s for s in Speaker}


class SessionEnded(RuntimeError):
    """An operator closed this conversation: it cannot be picked up again."""

    retryable = False


@dataclass(frozen=True)
class SessionHistory:
    """What a worker opening a session knows of it; ``resumed`` when the store already had it."""

    turns: tuple[Turn, ...] = ()
    mode: SessionMode = SessionMode.BOT
    claimed_by: str | None = None
    resumed: bool = False

    def event(self) -> HistoryEvent:
        lines = self.turns[-HISTORY_LINES:]
        return HistoryEvent(lines=[HistoryLine(speaker=t.speaker.value, text=t.text) for t in lines])


NEW_SESSION = SessionHistory()


def load_history(store: Store, session_id: str) -> SessionHistory:
    """Blocking: the session as the store has it. Raises ``SessionEnded`` for one an operator closed,
    and ``StoreUnavailable`` (retryable) when the store cannot be read."""
    stored = store.history(session_id)
    if stored is None:
        return NEW_SESSION
    mode, holder = resumed_mode(move for row in stored.audit if (move := _move(row)) is not None)
    if mode is SessionMode.CLOSED:
        raise SessionEnded("this conversation has been closed")
    turns = tuple(turn for row in stored.turns if (turn := _turn(row)) is not None)
    return SessionHistory(turns, mode, holder, resumed=True)


def pick_up(store: Store, brain: Brain, session_id: str, history: SessionHistory) -> None:
    """Blocking: audit that the session is picked up again, and give the Brain its memory back."""
    store.audit(
        SYSTEM_ACTOR,
        SESSION_RESUMED,
        session_id,
        mode=history.mode.value,
        claimed_by=history.claimed_by,
        turns=len(history.turns),
    )
    brain.memory.restore(session_id, history.turns)
    log.info(
        "session picked up again",
        extra={"session_id": session_id, "mode": history.mode.value, "turns": len(history.turns)},
    )


def _move(row: AuditRow) -> tuple[str, SessionMode] | None:
    if row.action != MODE_CHANGE:
        return None
    try:
        return row.actor, SessionMode(str(row.detail.get("mode")))
    except ValueError:
        log.warning("skipped an audited mode change without a known mode", extra={"audit_id": row.id})
        return None


def _turn(row: TurnRow) -> Turn | None:
    speaker = _SPEAKERS.get(row.speaker)
    if speaker is None:
        return None
    cited = row.citations[0].get("problem_id") if speaker is Speaker.BOT and row.citations else None
    return Turn(speaker, row.text, cited if isinstance(cited, str) else None)
