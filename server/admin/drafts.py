"""Durable drafts (a working copy of the knowledge in the store) and the review state machine.

At most one draft is open at a time. ``EDITING → IN_REVIEW → APPROVED → PUBLISHED``;
an edit sends a draft under review (or approved) back to ``EDITING``; an open
draft may be ``DISCARDED``. Illegal moves raise :class:`IllegalTransition`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Engine, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from knowledge.schema import KnowledgeBase
from server.store.tables import Base, utcnow


class DraftState(StrEnum):
    EDITING = "editing"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    PUBLISHED = "published"
    DISCARDED = "discarded"


_MOVES: dict[DraftState, frozenset[DraftState]] = {
    DraftState.EDITING: frozenset({DraftState.EDITING, DraftState.IN_REVIEW, DraftState.DISCARDED,
                                   DraftState.PUBLISHED}),
    DraftState.IN_REVIEW: frozenset({DraftState.EDITING, DraftState.APPROVED, DraftState.DISCARDED,
                                     DraftState.PUBLISHED}),
    DraftState.APPROVED: frozenset({DraftState.EDITING, DraftState.PUBLISHED, DraftState.DISCARDED}),
    DraftState.PUBLISHED: frozenset(),
    DraftState.DISCARDED: frozenset(),
}  # fmt: skip
OPEN = (DraftState.EDITING, DraftState.IN_REVIEW, DraftState.APPROVED)


class IllegalTransition(RuntimeError):
    """A draft cannot move from its state to the one asked."""


def check_move(current: DraftState, target: DraftState) -> None:
    if target not in _MOVES[current]:
        raise IllegalTransition(f"a draft cannot go from {current.value} to {target.value}")


class DraftRow(Base):
    __tablename__ = "kb_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    base_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    published_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kb_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GoldenRow(Base):
    __tablename__ = "kb_golden"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(Text)
    problem_id: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Draft:
    id: int
    base_version: int
    state: DraftState
    kb: KnowledgeBase
    created_by: str
    submitted_by: str | None
    reviewed_by: str | None


def _draft(row: DraftRow) -> Draft:
    return Draft(
        id=row.id,
        base_version=row.base_version,
        state=DraftState(row.state),
        kb=KnowledgeBase.model_validate_json(row.kb_json),
        created_by=row.created_by,
        submitted_by=row.submitted_by,
        reviewed_by=row.reviewed_by,
    )


class DraftStore:
    """Drafts and the golden regression questions, in the store's database."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def current(self) -> Draft | None:
        with self._sessions() as db:
            row = db.scalars(
                select(DraftRow)
                .where(DraftRow.state.in_([s.value for s in OPEN]))
                .order_by(DraftRow.id.desc())
            ).first()
            return _draft(row) if row is not None else None

    def open(self, kb: KnowledgeBase, base_version: int, actor: str) -> Draft:
        """The open draft, or a new one copied from ``kb``."""
        with self._sessions.begin() as db:
            row = db.scalars(select(DraftRow).where(DraftRow.state.in_([s.value for s in OPEN]))).first()
            if row is None:
                row = DraftRow(
                    base_version=base_version,
                    state=DraftState.EDITING.value,
                    created_by=actor,
                    kb_json=kb.model_dump_json(),
                )
                db.add(row)
                db.flush()
            return _draft(row)

    def save(self, draft_id: int, kb: KnowledgeBase) -> Draft:
        """Store new content; any review so far no longer counts."""
        return self._update(draft_id, DraftState.EDITING, kb_json=kb.model_dump_json(), reviewed_by=None)

    def move(self, draft_id: int, target: DraftState, actor: str, **fields: object) -> Draft:
        who = {DraftState.IN_REVIEW: "submitted_by", DraftState.APPROVED: "reviewed_by"}.get(target)
        if who:
            fields[who] = actor
        return self._update(draft_id, target, **fields)

    def _update(self, draft_id: int, target: DraftState, **fields: object) -> Draft:
        with self._sessions.begin() as db:
            row = db.get(DraftRow, draft_id, with_for_update=True)
            if row is None:
                raise IllegalTransition(f"no draft {draft_id}")
            check_move(DraftState(row.state), target)
            row.state = target.value
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            return _draft(row)

    def golden(self) -> list[GoldenRow]:
        with self._sessions() as db:
            return list(db.scalars(select(GoldenRow).order_by(GoldenRow.id)))

    def add_golden(self, text: str, problem_id: str, actor: str) -> None:
        with self._sessions.begin() as db:
            db.add(GoldenRow(text=text, problem_id=problem_id, added_by=actor))

    def remove_golden(self, golden_id: int) -> None:
        with self._sessions.begin() as db:
            row = db.get(GoldenRow, golden_id)
            if row is not None:
                db.delete(row)
