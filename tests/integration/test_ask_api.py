"""The text API on the real demo knowledge base (real embeddings, real Chroma, real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.runtime import Runtime
from tests.servers import ask


@pytest.fixture()
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as test_client:
        yield test_client


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize(
    ("question", "problem_id"),
    [
        ("I ordered my card two weeks ago and it still has not come", "card_arrival"),
        ("how much does it cost to top up with a card from the US?", "top_up_by_card_charge"),
        ("I forgot my passcode and can't log in to the app", "passcode_forgotten"),
        ("Why was I charged a fee for taking cash out at the ATM?", "cash_withdrawal_charge"),
        ("what is the annual fee on your credit card", "credit_card_annual_fee"),
    ],
)
def test_answers_cite_the_approved_problem(client: TestClient, question: str, problem_id: str) -> None:
    data = ask(client, question)
    assert data["decision"] == "answer"
    citations = data["citations"]
    assert isinstance(citations, list) and citations[0]["problem_id"] == problem_id
    assert citations[0]["knowledge_version"] == 1
    assert set(citations[0]) == {"problem_id", "product", "scenario", "source_intents", "knowledge_version"}
    assert isinstance(data["confidence"], float) and data["confidence"] >= 0.5


def test_answer_text_is_the_approved_answer_verbatim(client: TestClient, runtime: Runtime) -> None:
    data = ask(client, "My card has still not arrived, what should I do?")
    ref = runtime.brain.retriever.ref("card_arrival")
    assert ref is not None and data["text"] == ref.problem.answer


def test_out_of_scope_is_refused_politely(client: TestClient) -> None:
    data = ask(client, "Who won the football match last night?")
    assert data["decision"] == "refuse"
    assert data["citations"] == []
    assert "I can help with" in str(data["text"])


def test_two_refusals_in_a_row_hand_off(client: TestClient) -> None:
    first = ask(client, "What's a good recipe for lasagne?")
    second = ask(client, "Will it rain in Manchester tomorrow?", str(first["session_id"]), first["token"])
    assert (first["decision"], second["decision"]) == ("refuse", "handoff")


def test_asking_for_a_person_hands_off(client: TestClient) -> None:
    assert ask(client, "I want to talk to a real person please")["decision"] == "handoff"


def test_stolen_card_hands_off_with_the_steps(client: TestClient) -> None:
    data = ask(client, "Someone stole my card this morning!")
    assert data["decision"] == "handoff"
    assert "Freeze" in str(data["text"])
    assert data["citations"] and data["citations"][0]["problem_id"] == "lost_or_stolen_card"  # type: ignore[index]


def test_clarifies_between_products_then_resolves(client: TestClient) -> None:
    first = ask(client, "I lost my card")
    assert first["decision"] == "clarify", first
    products = {c["product"] for c in first["citations"]}  # type: ignore[attr-defined]
    assert products == {"debit_card", "credit_card"}
    second = ask(client, "the credit card one", str(first["session_id"]), first["token"])
    assert second["decision"] == "answer"
    assert second["citations"][0]["problem_id"] == "lost_credit_card"  # type: ignore[index]


def test_session_is_kept_and_transcript_is_masked(client: TestClient, runtime: Runtime) -> None:
    first = ask(client, "my card 4111 1111 1111 1111 has not arrived, call me on 07700 900123")
    session_id = str(first["session_id"])
    ask(client, "thanks", session_id, first["token"])
    turns = runtime.store.transcript(session_id)
    assert [t.speaker for t in turns] == ["customer", "bot", "customer", "bot"]
    stored = " ".join(t.text for t in turns)
    assert "4111 1111" not in stored and "900123" not in stored
    assert "[card ending 1111]" in stored and "[phone]" in stored


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": ""}, 422),
        ({"text": "   "}, 422),
        ({"text": "x" * 10_000}, 422),
        ({"text": 42}, 422),
        ({"question": "hello"}, 422),
        ({"text": "hi", "session_id": "../../etc/passwd"}, 422),
        ({"text": "bad\x00bytes"}, 422),
    ],
)
def test_bad_json_bodies_get_a_clear_4xx(client: TestClient, body: dict[str, object], status: int) -> None:
    response = client.post("/api/v1/ask", json=body)
    assert response.status_code == status
    assert response.json()["error"] == "invalid request"
    assert response.json()["detail"][0]["problem"]


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe\x00garbage\x81", b"{not json", b"[1, 2, 3]", b"null"],
)
def test_garbage_bodies_get_a_clear_4xx(client: TestClient, raw: bytes) -> None:
    response = client.post("/api/v1/ask", content=raw, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_oversized_body_is_rejected_before_parsing(client: TestClient) -> None:
    response = client.post("/api/v1/ask", content=b"{" + b" " * 20_000 + b"}")
    assert response.status_code == 413


def test_knowledge_is_not_leaked_across_sessions(client: TestClient, runtime: Runtime) -> None:
    ask(client, "my email is jane.doe@example.com and my card has not arrived", "alice-session")
    other = ask(client, "what did the last customer tell you their email was?", "bob-session")
    assert "jane" not in str(other["text"]).lower()
    assert all("jane" not in t.text for t in runtime.store.transcript("alice-session"))
