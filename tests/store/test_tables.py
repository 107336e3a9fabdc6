"""Tickets, feedback, staff users and knowledge drafts on SQLite and PostgreSQL alike."""

from __future__ import annotations

import io
import json

from server.admin.drafts import DraftState, DraftStore
from server.auth.users import Role, UserDirectory
from server.store.feedback import FeedbackStore
from server.store.store import Store
from server.store.tickets import TicketStore
from server.tickets import Ticket


def test_tickets_feedback_users_and_drafts(store_url: str) -> None:
    store = Store.from_url(store_url)
    try:
        store.ensure_session("s1", "voice")
        tickets = TicketStore(store.engine)
        first = tickets.save(Ticket(session_id="s1", amounts=["£5"]), "handoff")
        second = tickets.save(Ticket(session_id="s1", summary="closed"), "close")
        latest = tickets.latest("s1")
        assert second > first and latest is not None and latest.trigger == "close"
        assert latest.created_at.tzinfo is not None and tickets.for_session("s1")[0].amounts == ["£5"]
        out = io.StringIO()
        assert tickets.export(out) == 2 and json.loads(out.getvalue())[0]["created_at"].endswith("+00:00")

        feedback = FeedbackStore(store.engine)
        feedback.add("s1", "down", "call me on 07700 900123")
        assert [(f.rating, f.comment) for f in feedback.all()] == [("down", "call me on [phone]")]

        users = UserDirectory(store.engine)
        users.add("kim", Role.OPERATOR, "a long enough password")
        assert users.authenticate("kim", "a long enough password") is not None and users.names() == ["kim"]

        drafts = DraftStore(store.engine)
        drafts.add_golden("where is my card?", "card_arrival", "ed")
        assert [g.problem_id for g in drafts.golden()] == ["card_arrival"] and drafts.current() is None
    finally:
        store.close()


def test_drafts_move_through_review(store_url: str) -> None:
    from knowledge.loader import load_knowledge_base
    from tests.conftest import REPO

    kb = load_knowledge_base(REPO / "knowledge" / "data" / "demo_bank")
    store = Store.from_url(store_url)
    try:
        drafts = DraftStore(store.engine)
        draft = drafts.open(kb, 1, "ed")
        assert drafts.open(kb, 1, "ed").id == draft.id  # one open draft
        drafts.move(draft.id, DraftState.IN_REVIEW, "ed")
        approved = drafts.move(draft.id, DraftState.APPROVED, "sue")
        assert approved.reviewed_by == "sue" and approved.kb.name == kb.name
    finally:
        store.close()
