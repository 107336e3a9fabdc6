"""Stored tickets (one row per ticket, the ticket as JSON), on the Store's engine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import JSON, Engine, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from server.store.retry import RetryPolicy
from server.store.tables import Base, UtcDateTime, utcnow
from server.tickets.model import Ticket


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # "handoff" | "close"
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class StoredTicket:
    id: int
    trigger: str
    created_at: datetime
    ticket: Ticket


class TicketStore:
    """Saves, reads and exports tickets (the table is made by the store's migrations)."""

    def __init__(self, engine: Engine, retry: RetryPolicy | None = None) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._retry = retry or RetryPolicy()

    def save(self, ticket: Ticket, trigger: str) -> int:
        """Commit the ticket and return its id; retried through a brief outage, then
        ``StoreUnavailable``."""
        data = ticket.model_dump(mode="json")

        def write() -> int:
            with self._sessions.begin() as db:
                row = TicketRow(
                    session_id=ticket.session_id, trigger=trigger, source=ticket.source.value, data=data
                )
                db.add(row)
                db.flush()
                return row.id

        return self._retry.run("a ticket", write)

    def for_session(self, session_id: str) -> list[Ticket]:
        query = select(TicketRow).where(TicketRow.session_id == session_id).order_by(TicketRow.id)
        with self._sessions() as db:
            return [Ticket.model_validate(row.data) for row in db.scalars(query)]

    def latest(self, session_id: str) -> StoredTicket | None:
        """The session's newest ticket, or None."""
        query = (
            select(TicketRow).where(TicketRow.session_id == session_id).order_by(TicketRow.id.desc()).limit(1)
        )
        with self._sessions() as db:
            row = db.scalar(query)
            if row is None:
                return None
            return StoredTicket(row.id, row.trigger, row.created_at, Ticket.model_validate(row.data))

    def export(self, out: IO[str], session_id: str | None = None) -> int:
        """Write tickets as one JSON array to ``out``; return how many."""
        query = select(TicketRow).order_by(TicketRow.id)
        if session_id is not None:
            query = query.where(TicketRow.session_id == session_id)
        with self._sessions() as db:
            items = [
                {"id": r.id, "trigger": r.trigger, "created_at": r.created_at.isoformat(), "ticket": r.data}
                for r in db.scalars(query)
            ]
        json.dump(items, out, indent=2)
        out.write("\n")
        return len(items)
