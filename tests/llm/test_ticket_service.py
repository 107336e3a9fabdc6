"""Tickets written on their own: on a hand-off through the API, on a session's end, on demand."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from knowledge.embeddings import Embedder
from server.app import create_app
from server.brain.llm import GenerativeWriter
from server.config import Settings
from server.runtime import Runtime, open_runtime
from server.store.store import TurnRecord
from server.store.tickets import TicketStore
from server.tickets import Resolution, TicketSource, numerically_consistent
from server.tickets.service import TicketService
from tests.llm.conftest import FakeLlm
from tests.servers import ask
from tests.store.pg import pg_url, postgres, store_url

__all__ = ["pg_url", "postgres", "store_url"]  # the store fixtures: SQLite and a real PostgreSQL

HANDOFF_LINE = "I sent £250.50 on 3 March and it never arrived. I want to talk to a real person please"


def test_handoff_through_the_api_stores_a_consistent_ticket(runtime: Runtime) -> None:
    with TestClient(create_app(runtime=runtime)) as client:
        first = ask(client, "My card has still not arrived, what should I do?")
        session = str(first["session_id"])
        assert ask(client, HANDOFF_LINE, session, first["token"])["decision"] == "handoff"
        assert ask(client, "Why was I charged a fee at the ATM?")["decision"] == "answer"  # no ticket
    # leaving the app waited for the queued ticket
    tickets = TicketStore(runtime.store.engine)
    stored = tickets.latest(session)
    assert stored is not None and stored.trigger == "handoff"
    ticket = stored.ticket
    assert ticket.session_id == session and ticket.resolution is Resolution.HANDED_OFF
    assert ticket.source is TicketSource.EXTRACTOR  # approved mode: no LLM
    assert ticket.amounts == ["£250.50"] and "3 March" in ticket.dates
    assert numerically_consistent(ticket, runtime.store.transcript(session))
    out = io.StringIO()
    assert tickets.export(out) == 1
    exported = json.loads(out.getvalue())
    assert exported[0]["ticket"]["session_id"] == session and exported[0]["trigger"] == "handoff"


def test_the_llm_ticket_is_written_off_the_customers_path(runtime: Runtime, fake_llm: FakeLlm) -> None:
    fake_llm.script.gate = threading.Event()  # the LLM answers only when the test says so
    fake_llm.script.chunks = [json.dumps({
        "customer_goal": "Find a £250.50 transfer sent on 3 March.",
        "summary": "The £250.50 transfer has not arrived; the customer asked for a person.",
        "follow_up": "Trace the transfer and call the customer back within 48 hours.",
    })]  # fmt: skip
    runtime.writer = GenerativeWriter(fake_llm.client(first_token_budget_ms=20_000, timeout_s=30))
    with TestClient(create_app(runtime=runtime)) as client:
        session = str(ask(client, HANDOFF_LINE)["session_id"])  # answered while the LLM is held
        assert TicketStore(runtime.store.engine).latest(session) is None
        fake_llm.script.gate.set()
    stored = TicketStore(runtime.store.engine).latest(session)
    assert stored is not None and stored.ticket.source is TicketSource.LLM_REPAIRED
    assert stored.ticket.customer_goal == "Find a £250.50 transfer sent on 3 March."
    assert "48" not in stored.ticket.follow_up  # invented by the "LLM": replaced by the extractor's
    assert numerically_consistent(stored.ticket, runtime.store.transcript(session))
    assert len(fake_llm.script.requests) == 1


@pytest.fixture()
def store_runtime(demo_settings: Settings, embedder: Embedder, store_url: str) -> Iterator[Runtime]:
    """The demo runtime with its store on SQLite or on PostgreSQL."""
    demo_settings.store.url = store_url
    rt = open_runtime(demo_settings, embedder=embedder)
    try:
        yield rt
    finally:
        rt.close()


def test_a_closed_session_gets_a_ticket_unless_its_handoff_ticket_covers_it(store_runtime: Runtime) -> None:
    runtime = store_runtime
    store = runtime.store
    service = TicketService(store, lambda: runtime.brain.retriever.kb)
    try:
        store.ensure_session("v1", "voice")
        store.record_turn(TurnRecord("v1", "customer", "My card payment of $40 was declined yesterday"))
        store.record_turn(TurnRecord("v1", "bot", "Please check the card is not frozen.", decision="answer"))
        service.session_closed("v1")
        store.ensure_session("empty", "voice")
        service.session_closed("empty")  # nothing said: no ticket
        assert asyncio.run(service.ticket_now("empty")) is None
    finally:
        service.close()
    stored = service.latest("v1")
    assert stored is not None and stored.trigger == "close"
    assert stored.ticket.amounts == ["$40"] and stored.ticket.dates == ["yesterday"]
    assert service.latest("empty") is None
    service = TicketService(store, lambda: runtime.brain.retriever.kb)
    try:
        service.session_closed("v1")  # nothing new since the last ticket
    finally:
        service.close()
    tickets = TicketStore(store.engine).for_session("v1")
    assert len(tickets) == 1 and numerically_consistent(tickets[0], store.transcript("v1"))


def test_ticket_now_and_after_close(store_runtime: Runtime) -> None:
    runtime = store_runtime
    store = runtime.store
    store.ensure_session("op1")
    store.record_turn(TurnRecord("op1", "customer", "I was charged 2% on a transfer of €300"))
    service = TicketService(store, lambda: runtime.brain.retriever.kb)
    try:
        stored = asyncio.run(service.ticket_now("op1"))
        assert stored is not None and stored.trigger == "operator"
        assert stored == service.latest("op1") and set(stored.ticket.amounts) == {"2%", "€300"}
    finally:
        service.close()
    late = service.submit("op1", "handoff").result(timeout=5)  # closed: written at once by the extractor
    assert late is not None and late.trigger == "handoff" and late.ticket.source is TicketSource.EXTRACTOR
