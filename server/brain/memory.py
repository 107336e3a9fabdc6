"""Per-session conversation memory, owned by one Brain (never a global)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Speaker(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Turn:
    speaker: Speaker
    text: str
    problem_id: str | None = None


@dataclass
class SessionMemory:
    """What the Brain remembers of one conversation (all text already masked)."""

    session_id: str
    max_turns: int = 12
    turns: list[Turn] = field(default_factory=list)
    pending_clarification: list[str] = field(default_factory=list)
    pending_question: str = ""
    low_confidence_streak: int = 0
    last_problem_id: str | None = None
    on_banking: bool = False  # the last line the Brain judged was about banking (a follow-up may be too)
    touched: float = field(default_factory=time.monotonic)

    def add(self, turn: Turn) -> None:
        self.turns.append(turn)
        del self.turns[: -self.max_turns]
        if turn.problem_id is not None:
            self.last_problem_id = turn.problem_id
        self.touched = time.monotonic()


class MemoryStore:
    """Bounded LRU of session memories with an idle timeout."""

    def __init__(
        self, *, max_sessions: int = 10_000, idle_seconds: float = 3_600, max_turns: int = 12
    ) -> None:
        self._sessions: OrderedDict[str, SessionMemory] = OrderedDict()
        self._lock = threading.Lock()
        self._max_sessions = max_sessions
        self._idle_seconds = idle_seconds
        self._max_turns = max_turns

    def get(self, session_id: str) -> SessionMemory:
        now = time.monotonic()
        with self._lock:
            memory = self._sessions.get(session_id)
            if memory is None or now - memory.touched > self._idle_seconds:
                memory = SessionMemory(session_id=session_id, max_turns=self._max_turns)
                self._sessions[session_id] = memory
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)
            return memory

    def restore(self, session_id: str, turns: Iterable[Turn]) -> None:
        """The session's memory is ``turns`` (oldest first, masked): a conversation picked up again
        from the store, on another worker or after a reconnect."""
        memory = SessionMemory(session_id=session_id, max_turns=self._max_turns)
        for turn in turns:
            memory.add(turn)
        with self._lock:
            self._sessions[session_id] = memory
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)
