"""Sessions, transcripts and audit records, committed before they are acknowledged.

SQLite in WAL mode with ``synchronous=FULL`` by default, so a committed turn
survives a crash of the process; any SQLAlchemy URL (PostgreSQL) works too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

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
        with self._sessions.begin() as db:
            if db.get(SessionRow, session_id) is not None:
                return False
            db.add(SessionRow(id=session_id, channel=channel))
            return True

    def session_exists(self, session_id: str) -> bool:
        with self._sessions() as db:
            return db.get(SessionRow, session_id) is not None

    def record_turn(self, turn: TurnRecord) -> int:
        """Commit one turn (masked) and return its sequence number in the session."""
        with self._sessions.begin() as db:
            seq = self._next_seq(db, turn.session_id)
            db.add(
                TurnRow(
                    session_id=turn.session_id,
                    seq=seq,
                    speaker=turn.speaker,
                    text=mask_pii(turn.text),
                    spoken_text=mask_pii(turn.spoken_text) if turn.spoken_text is not None else None,
                    decision=turn.decision,
                    reason=turn.reason,
                    confidence=turn.confidence,
                    citations=list(turn.citations),
                )
            )
            session = db.get(SessionRow, turn.session_id)
            if session is not None:
                session.updated_at = utcnow()
            return seq

    def set_spoken(self, session_id: str, seq: int, spoken_text: str) -> None:
        """Record what the customer actually heard of a reply (all of it, or up to a barge-in)."""
        with self._sessions.begin() as db:
            row = db.scalar(select(TurnRow).where(TurnRow.session_id == session_id, TurnRow.seq == seq))
            if row is None:
                raise KeyError(f"no turn {seq} in session {session_id}")
            row.spoken_text = mask_pii(spoken_text)

    @staticmethod
    def _next_seq(db: Session, session_id: str) -> int:
        current = db.scalar(select(func.max(TurnRow.seq)).where(TurnRow.session_id == session_id))
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
