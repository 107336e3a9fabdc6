"""Sessions, transcripts and audit records, committed before they are acknowledged.

SQLite in WAL mode with ``synchronous=NORMAL`` by default: a committed turn
survives a crash of the process (not a power cut before the next checkpoint);
any SQLAlchemy URL (PostgreSQL) works too. Turns are written with Core
statements, all turns of one call in one transaction (``record_turns``); the
ORM serves reads and the rarer writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from server.brain.pii import mask_pii
from server.store.tables import AuditRow, Base, SessionRow, TurnRow, utcnow


@dataclass(frozen=True)
class TurnRecord:
    session_id: str
    speaker: str
    text: str
    spoken_text: str | None = None
    decision: str | None = None
    reason: str | None = None
    confidence: float | None = None
    citations: Sequence[dict[str, Any]] = field(default_factory=tuple)


# Built once: a statement's cache key is then computed once, not on every turn.
_SESSION_ID = select(SessionRow.id).where(SessionRow.id == bindparam("sid"))
_NEW_SESSION = insert(SessionRow)
_LAST_SEQ = select(func.max(TurnRow.seq)).where(TurnRow.session_id == bindparam("sid"))
_NEW_TURNS = insert(TurnRow)
_TOUCH_SESSION = (
    update(SessionRow).where(SessionRow.id == bindparam("sid")).values(updated_at=bindparam("at"))
)


def _turn_row(turn: TurnRecord, seq: int) -> dict[str, Any]:
    text = mask_pii(turn.text)
    spoken = turn.spoken_text
    return {
        "session_id": turn.session_id,
        "seq": seq,
        "speaker": turn.speaker,
        "text": text,
        "spoken_text": text if spoken == turn.text else None if spoken is None else mask_pii(spoken),
        "decision": turn.decision,
        "reason": turn.reason,
        "confidence": turn.confidence,
        "citations": list(turn.citations),
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


class Store:
    """The only writer of transcripts. Text is masked again here, as a last line of defence."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(create_store_engine(url))

    @property
    def engine(self) -> Engine:
        """For other tables of the same database (users, feedback, tickets)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def ensure_session(self, session_id: str, channel: str = "text") -> bool:
        """Create the session if new; return True when it was created."""
        with self._engine.begin() as db:
            return self._create_session(db, session_id, channel)

    def session_exists(self, session_id: str) -> bool:
        with self._sessions() as db:
            return db.get(SessionRow, session_id) is not None

    def record_turn(self, turn: TurnRecord) -> int:
        """Commit one turn (masked) and return its sequence number in the session."""
        return self.record_turns([turn])[0]

    def record_turns(self, turns: Sequence[TurnRecord], *, channel: str | None = None) -> list[int]:
        """Commit ``turns`` of one session (masked, in order) in one transaction; return their
        sequence numbers. With ``channel`` a new session is created first (``ensure_session``)."""
        if not turns:
            return []
        session_id = turns[0].session_id
        if any(t.session_id != session_id for t in turns):
            raise ValueError("record_turns takes the turns of one session")
        with self._engine.begin() as db:
            created = channel is not None and self._create_session(db, session_id, channel)
            first = 1 if created else self._next_seq(db, session_id)
            db.execute(_NEW_TURNS, [_turn_row(t, first + n) for n, t in enumerate(turns)])
            if not created:
                db.execute(_TOUCH_SESSION, {"sid": session_id, "at": utcnow()})
        return list(range(first, first + len(turns)))

    @staticmethod
    def _create_session(db: Connection, session_id: str, channel: str) -> bool:
        if db.scalar(_SESSION_ID, {"sid": session_id}) is not None:
            return False
        db.execute(_NEW_SESSION, {"id": session_id, "channel": channel})
        return True

    def set_spoken(self, session_id: str, seq: int, spoken_text: str) -> None:
        """Record what the customer actually heard of a reply (all of it, or up to a barge-in)."""
        with self._sessions.begin() as db:
            row = db.scalar(select(TurnRow).where(TurnRow.session_id == session_id, TurnRow.seq == seq))
            if row is None:
                raise KeyError(f"no turn {seq} in session {session_id}")
            row.spoken_text = mask_pii(spoken_text)

    @staticmethod
    def _next_seq(db: Connection, session_id: str) -> int:
        current = db.scalar(_LAST_SEQ, {"sid": session_id})
        return (current or 0) + 1

    def transcript(self, session_id: str) -> list[TurnRow]:
        with self._sessions() as db:
            return list(
                db.scalars(select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.seq))
            )

    def audit(self, actor: str, action: str, session_id: str | None = None, **detail: Any) -> None:
        with self._sessions.begin() as db:
            db.add(AuditRow(actor=actor, action=action, session_id=session_id, detail=detail))

    def audit_log(self, session_id: str | None = None) -> list[AuditRow]:
        query = select(AuditRow).order_by(AuditRow.id)
        if session_id is not None:
            query = query.where(AuditRow.session_id == session_id)
        with self._sessions() as db:
            return list(db.scalars(query))
