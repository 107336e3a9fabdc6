"""``POST /api/v1/feedback``: a customer's thumbs up or down on a session, and its table."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, Engine, ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from server.api.ask import SESSION_ID_PATTERN
from server.brain.pii import mask_pii
from server.runtime import Runtime
from server.store.tables import Base, utcnow

router = APIRouter(prefix="/api/v1")


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class FeedbackStore:
    """Feedback rows; comments are masked before they are stored."""

    def __init__(self, engine: Engine) -> None:
        Base.metadata.create_all(engine, tables=[FeedbackRow.__table__])  # type: ignore[list-item]
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def add(self, session_id: str, rating: str, comment: str | None) -> int:
        with self._sessions.begin() as db:
            row = FeedbackRow(
                session_id=session_id, rating=rating, comment=mask_pii(comment) if comment else None
            )
            db.add(row)
            db.flush()
            return row.id

    def all(self) -> list[FeedbackRow]:
        with self._sessions() as db:
            return list(db.scalars(select(FeedbackRow).order_by(FeedbackRow.id)))


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: Annotated[str, Field(pattern=SESSION_ID_PATTERN)]
    rating: Literal["up", "down"]
    comment: Annotated[str | None, Field(default=None, max_length=500)] = None


class FeedbackResponse(BaseModel):
    id: int


def feedback_store(runtime: Runtime) -> FeedbackStore:
    from server.auth.service import store_engine

    return FeedbackStore(store_engine(runtime.store))


@router.post("/feedback", response_model=FeedbackResponse, status_code=status.HTTP_201_CREATED)
def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
    runtime: Runtime = request.app.state.runtime
    if not runtime.store.session_exists(body.session_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    store: FeedbackStore | None = getattr(request.app.state, "feedback_store", None)
    if store is None:
        store = request.app.state.feedback_store = feedback_store(runtime)
    return FeedbackResponse(id=store.add(body.session_id, body.rating, body.comment))
