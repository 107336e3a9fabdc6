"""Tickets: extracted from masked transcripts, LLM-written when configured, always numerically consistent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from knowledge.schema import KnowledgeBase
from server.cli import main as teller
from server.store.store import Store, TurnRecord
from server.store.tickets import TicketStore
from server.tickets import Resolution, TicketSource, build_ticket, numerically_consistent, write_ticket
from tests.llm.conftest import FakeLlm

CITE = {
    "problem_id": "transfer_not_received",
    "product": "transfers",
    "scenario": "x",
    "knowledge_version": 3,
}


def _store(tmp_path: Path, session: str = "t1") -> Store:
    store = Store.from_url(f"sqlite:///{tmp_path / 'teller.db'}")
    store.ensure_session(session)
    turns = [
        TurnRecord(session, "customer", "I sent £250.50 to my landlord on 3 March and it hasn't arrived"),
        TurnRecord(session, "bot", "UK transfers usually arrive within 2 hours.", decision="answer",
                   reason="confident", citations=[CITE]),
        TurnRecord(session, "customer", "It's been 5 days, card 4111 1111 1111 1111. I want a real person"),
        TurnRecord(session, "bot", "Of course. I'm connecting you with a colleague now.", decision="handoff",
                   reason="customer_request"),
    ]  # fmt: skip
    for turn in turns:
        store.record_turn(turn)
    return store


def test_extracted_ticket_is_structured_and_consistent(tmp_path: Path, demo_kb: KnowledgeBase) -> None:
    store = _store(tmp_path)
    rows = store.transcript("t1")
    known = {r.problem.id for r in demo_kb.problem_refs()}
    ticket = build_ticket(rows, demo_kb, "t1")
    assert ticket.amounts == ["£250.50"] and "3 March" in ticket.dates
    assert ticket.resolution is Resolution.HANDED_OFF and "colleague" in ticket.follow_up
    assert ticket.problem == "transfer_not_received" and ticket.knowledge_version == 3
    assert (ticket.product is not None) == ("transfer_not_received" in known)
    assert "4111 1111" not in ticket.model_dump_json()
    assert numerically_consistent(ticket, rows)
    store.close()


def test_llm_ticket_with_invented_numbers_is_repaired(
    tmp_path: Path, demo_kb: KnowledgeBase, fake_llm: FakeLlm
) -> None:
    store = _store(tmp_path)
    rows = store.transcript("t1")
    fake_llm.script.chunks = [json.dumps({
        "customer_goal": "Find a £250.50 transfer sent on 3 March.",
        "summary": "Customer sent £900 on 12 April; waited 5 days.",
        "follow_up": "Call back within 24 hours.",
    })]  # fmt: skip
    client = fake_llm.client()
    ticket = write_ticket(rows, demo_kb, "t1", client)
    assert ticket.source is TicketSource.LLM_REPAIRED
    assert ticket.customer_goal == "Find a £250.50 transfer sent on 3 March."
    assert "900" not in ticket.summary and "24" not in ticket.follow_up
    assert numerically_consistent(ticket, rows)
    fake_llm.script.chunks = ["Sure! Here is the note: customer lost money."]
    assert write_ticket(rows, demo_kb, "t1", client).source is TicketSource.EXTRACTOR
    client.close()
    store.close()


def test_tickets_are_stored_and_exported(
    tmp_path: Path, demo_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    tickets = TicketStore(store._engine)
    ticket = build_ticket(store.transcript("t1"), demo_kb, "t1")
    tickets.save(ticket, "handoff")
    assert tickets.for_session("t1") == [ticket]
    out = io.StringIO()
    assert tickets.export(out) == 1
    assert json.loads(out.getvalue())[0]["ticket"]["amounts"] == ["£250.50"]
    store.close()
    monkeypatch.setenv("TELLER_STORE__URL", f"sqlite:///{tmp_path / 'teller.db'}")
    assert teller(["tickets", "export", "--out", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())[0]["trigger"] == "handoff"
