"""Customers' thumbs up or down on a session; comments are masked before they are stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from server.brain.pii import mask_pii
from server.store.retry import RetryPolicy
from server.store.tables import Base, UtcDateTime, utcnow


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class FeedbackStore:
    """Feedback rows; comments are masked before they are stored."""

    def __init__(self, engine: Engine, retry: RetryPolicy | None = None) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._retry = retry or RetryPolicy()

    def add(self, session_id: str, rating: str, comment: str | None) -> int:
        """Commit one rating; retried through a brief outage, then ``StoreUnavailable``."""
        masked = mask_pii(comment) if comment else None

        def write() -> int:
            with self._sessions.begin() as db:
                row = FeedbackRow(session_id=session_id, rating=rating, comment=masked)
                db.add(row)
                db.flush()
                return row.id

        return self._retry.run("feedback", write)

    def all(self) -> list[FeedbackRow]:
        with self._sessions() as db:
            return list(db.scalars(select(FeedbackRow).order_by(FeedbackRow.id)))
