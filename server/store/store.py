"""Sessions, transcripts and audit records, committed before they are acknowledged.

SQLite in WAL mode with ``synchronous=NORMAL`` by default: a committed turn
survives a crash of the process (not a power cut before the next checkpoint);
PostgreSQL (``postgresql+psycopg://…``) for many workers. The schema comes from the
Alembic migrations (``server.store.migrate``) on both. Turns are written with Core
statements, all turns of one call in one transaction (``record_turns``); the ORM serves
reads and the rarer writes. Writes outlive a brief outage (``server.store.retry``): they
are retried, then fail with ``StoreUnavailable`` — never acknowledged unsaved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from server.brain.pii import mask_pii
from server.store.audit import AuditEntry, append_audit, default_audit_key
from server.store.migrate import migrate
from server.store.retry import RetryPolicy, StoreUnavailable
from server.store.tables import AuditRow, SessionRow, TurnRow, utcnow
from server.turn_digits import Amend

__all__ = ["Store", "StoreUnavailable", "StoredHistory", "TurnRecord", "create_store_engine"]

T = TypeVar("T")


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
    operator: str | None = None  # the staff member who spoke or approved this line


@dataclass(frozen=True)
class StoredHistory:
    """What the store holds of one session: its turns and its audit records (mode changes, ...)."""

    turns: list[TurnRow]
    audit: list[AuditRow]


# Built once: a statement's cache key is then computed once, not on every turn.
_SESSION_ID = select(SessionRow.id).where(SessionRow.id == bindparam("sid"))
# A new session, or nothing when it exists (also when another writer's insert is in flight).
_NEW_SESSION_IF_ABSENT: dict[str, Executable] = {
    name: insert_(SessionRow).on_conflict_do_nothing(index_elements=["id"]).returning(SessionRow.id)
    for name, insert_ in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_NEW_SESSION = insert(SessionRow)
_LAST_SEQ = select(func.max(TurnRow.seq)).where(TurnRow.session_id == bindparam("sid"))
_NEW_TURNS = insert(TurnRow)
_TOUCH_SESSION = (
    update(SessionRow).where(SessionRow.id == bindparam("sid")).values(updated_at=bindparam("at"))
)
_SET_SPOKEN = (
    update(TurnRow)
    .where(TurnRow.session_id == bindparam("sid"), TurnRow.seq == bindparam("n"))
    .values(spoken_text=bindparam("heard"))
    .returning(TurnRow.id)
)
# An earlier customer turn masked again, only while it still holds what was stored.
_AMEND = (
    update(TurnRow)
    .where(
        TurnRow.session_id == bindparam("sid"),
        TurnRow.seq == bindparam("n"),
        TurnRow.speaker == "customer",
        TurnRow.text == bindparam("was"),
    )
    .values(text=bindparam("masked"))
)


def _stored(text: str) -> str:
    """``text`` as a column value: masked unless it is ``MaskedText`` already, a plain ``str``."""
    return str(mask_pii(text))


def _turn_row(turn: TurnRecord, seq: int) -> dict[str, Any]:
    text = _stored(turn.text)
    spoken = turn.spoken_text
    return {
        "session_id": turn.session_id,
        "seq": seq,
        "speaker": turn.speaker,
        "text": text,
        "spoken_text": text if spoken == turn.text else None if spoken is None else _stored(spoken),
        "decision": turn.decision,
        "reason": turn.reason,
        "confidence": turn.confidence,
        "citations": list(turn.citations),
        "operator": turn.operator,
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_store_engine(url: str) -> Engine:
    """An engine on ``url`` as the store uses it, without touching the schema."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def create_store_engine(url: str) -> Engine:
    """An engine on ``url`` whose database has been migrated to the newest schema."""
    engine = open_store_engine(url)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


class Store:
    """The only writer of transcripts; nothing is stored unmasked.

    ``MaskedText`` (``server.brain.pii``) was masked where it entered and is stored as it is;
    any other text (a bot reply, what was heard of one) is masked here.
    """

    def __init__(
        self, engine: Engine, retry: RetryPolicy | None = None, audit_key: bytes | None = None
    ) -> None:
        self._engine = engine
        self._audit_key = audit_key if audit_key is not None else default_audit_key()
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._retry = retry or RetryPolicy()
        self._new_session = _NEW_SESSION_IF_ABSENT.get(engine.dialect.name)

    @classmethod
    def from_url(cls, url: str, audit_key: bytes | None = None) -> Store:
        """``audit_key`` signs the audit chain (default: ``TELLER_AUDIT_KEY``, else a development key)."""
        return cls(create_store_engine(url), audit_key=audit_key)

    @property
    def audit_key(self) -> bytes:
        return self._audit_key

    @property
    def engine(self) -> Engine:
        """For other tables of the same database (users, feedback, tickets)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def _write(self, operation: str, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction, committed before this returns; retried on a lost connection.
        Raises ``StoreUnavailable`` (``retryable=True``) when the database stays unreachable."""

        def attempt() -> T:
            with self._engine.begin() as db:
                return work(db)

        return self._retry.run(operation, attempt)

    def ensure_session(self, session_id: str, channel: str = "text") -> bool:
        """Create the session if new; return True when it was created."""
        return self._write("a session", lambda db: self._create_session(db, session_id, channel))

    def session_exists(self, session_id: str) -> bool:
        with self._sessions() as db:
            return db.get(SessionRow, session_id) is not None

    def record_turn(self, turn: TurnRecord) -> int:
        """Commit one turn (masked) and return its sequence number in the session."""
        return self.record_turns([turn])[0]

    def record_turns(
        self, turns: Sequence[TurnRecord], *, channel: str | None = None, amend: Sequence[Amend] = ()
    ) -> list[int]:
        """Commit ``turns`` of one session (masked, in order) in one transaction; return their
        sequence numbers. With ``channel`` a new session is created first (``ensure_session``).
        ``amend`` rewrites earlier customer turns of the session in the same transaction (a number
        the customer went on with in these turns, ``server.turn_digits``)."""
        if not turns:
            return []
        session_id = turns[0].session_id
        if any(t.session_id != session_id for t in turns):
            raise ValueError("record_turns takes the turns of one session")

        def write(db: Connection) -> list[int]:
            created = channel is not None and self._create_session(db, session_id, channel)
            first = 1 if created else self._next_seq(db, session_id)
            db.execute(_NEW_TURNS, [_turn_row(t, first + n) for n, t in enumerate(turns)])
            for a in amend:
                db.execute(_AMEND, {"sid": session_id, "n": a.seq, "was": a.was, "masked": _stored(a.text)})
            return list(range(first, first + len(turns)))

        return self._write("the turns", write)

    def _create_session(self, db: Connection, session_id: str, channel: str) -> bool:
        if self._new_session is not None:
            inserted = db.execute(self._new_session, {"id": session_id, "channel": channel})
            return inserted.first() is not None  # a row comes back only when it was inserted
        if db.scalar(_SESSION_ID, {"sid": session_id}) is not None:
            return False
        db.execute(_NEW_SESSION, {"id": session_id, "channel": channel})
        return True

    def set_spoken(self, session_id: str, seq: int, spoken_text: str) -> None:
        """Record what the customer actually heard of a reply (all of it, or up to a barge-in)."""
        stored = _stored(spoken_text)

        def write(db: Connection) -> None:
            changed = db.execute(_SET_SPOKEN, {"sid": session_id, "n": seq, "heard": stored})
            if changed.first() is None:
                raise KeyError(f"no turn {seq} in session {session_id}")

        self._write("what was spoken", write)

    @staticmethod
    def _next_seq(db: Connection, session_id: str) -> int:
        """The session's next sequence number. Touching the session row first takes its row lock
        (PostgreSQL) or the write lock (SQLite) until commit, so concurrent writers to one session
        take turns and each reads the numbers the previous one committed."""
        db.execute(_TOUCH_SESSION, {"sid": session_id, "at": utcnow()})
        current = db.scalar(_LAST_SEQ, {"sid": session_id})
        return (current or 0) + 1

    def history(self, session_id: str) -> StoredHistory | None:
        """The session's turns and its audit records, oldest first, read in one transaction (retried
        like a write); None when there is no such session."""

        def read() -> StoredHistory | None:
            with self._sessions() as db:
                if db.get(SessionRow, session_id) is None:
                    return None
                turns = db.scalars(
                    select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.seq)
                )
                audit = db.scalars(
                    select(AuditRow).where(AuditRow.session_id == session_id).order_by(AuditRow.id)
                )
                return StoredHistory(list(turns), list(audit))

        return self._retry.run("the session's history", read)

    def transcript(self, session_id: str) -> list[TurnRow]:
        with self._sessions() as db:
            return list(
                db.scalars(select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.seq))
            )

    def audit(
        self,
        actor: str,
        action: str,
        session_id: str | None = None,
        *,
        target: str | None = None,
        outcome: str = "ok",
        **detail: Any,
    ) -> None:
        """Append one audit record to the chain (retried like every write)."""
        entry = AuditEntry(actor, action, session_id, target, outcome, detail)
        self._write("an audit record", lambda db: append_audit(db, self._audit_key, entry))

    def audit_log(self, session_id: str | None = None) -> list[AuditRow]:
        query = select(AuditRow).order_by(AuditRow.seq)
        if session_id is not None:
            query = query.where(AuditRow.session_id == session_id)
        with self._sessions() as db:
            return list(db.scalars(query))
