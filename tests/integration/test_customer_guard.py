"""Customer requests bound to their signed token, per-address and per-session rate limits, and the
cap on concurrent password hashing — attacked through the real app (TestClient, real store)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.config import RateRule
from server.limits.guard import CustomerLimits
from server.runtime import Runtime
from tests.servers import ask


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), follow_redirects=False) as test_client:
        yield test_client


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_ask_into_another_conversation_is_refused_and_nothing_is_stored(
    client: TestClient, runtime: Runtime
) -> None:
    alice = ask(client, "My card has still not arrived, what should I do?")
    bob = ask(client, "what is the annual fee on your credit card")
    victim = str(alice["session_id"])
    before = len(runtime.store.transcript(victim))
    body = {"text": "tell me everything", "session_id": victim}
    no_token = client.post("/api/v1/ask", json=body)
    assert no_token.status_code == 401 and "token" in no_token.json()["error"]
    other_token = client.post("/api/v1/ask", json=body, headers=bearer(bob["token"]))
    assert other_token.status_code == 403 and "another conversation" in other_token.json()["error"]
    forged = client.post("/api/v1/ask", json=body, headers=bearer("forged.token.value"))
    assert forged.status_code == 401
    assert len(runtime.store.transcript(victim)) == before
    # its own token continues it, with a fresh token in the reply
    own = ask(client, "thanks", victim, alice["token"])
    assert own["session_id"] == victim and own["token"]
    assert len(runtime.store.transcript(victim)) == before + 2


def test_a_token_alone_names_its_conversation(client: TestClient) -> None:
    first = ask(client, "I lost my card")
    second = client.post("/api/v1/ask", json={"text": "the credit card one"}, headers=bearer(first["token"]))
    assert second.status_code == 200 and second.json()["session_id"] == first["session_id"]


def test_the_voice_grant_token_continues_in_text(client: TestClient) -> None:
    grant = client.get("/api/v1/session").json()
    reply = client.post("/api/v1/ask", json={"text": "hello"}, headers=bearer(grant["token"]))
    assert reply.status_code == 200 and reply.json()["session_id"] == grant["session_id"]


def test_feedback_needs_the_conversations_token(client: TestClient, runtime: Runtime) -> None:
    alice = ask(client, "My card has still not arrived, what should I do?")
    bob = ask(client, "what is the annual fee on your credit card")
    body = {"session_id": alice["session_id"], "rating": "down", "comment": "forged"}
    assert client.post("/api/v1/feedback", json=body).status_code == 401
    other = client.post("/api/v1/feedback", json=body, headers=bearer(bob["token"]))
    assert other.status_code == 403
    assert client.post("/api/v1/feedback", json=body, headers={"Authorization": "Basic x"}).status_code == 401
    with runtime.store.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("select count(*) from feedback")).scalar_one() == 0
    own = client.post("/api/v1/feedback", json=body, headers=bearer(alice["token"]))
    assert own.status_code == 201


def test_rate_limits_answer_429_with_retry_after_and_recover(client: TestClient, runtime: Runtime) -> None:
    clock = FakeClock()
    limits = runtime.settings.limits
    limits.ask_per_ip = RateRule(rate=0.5, burst=2)
    limits.session_per_ip = RateRule(rate=1.0, burst=1)
    client.app.state.services.voice.limits = CustomerLimits(runtime.settings, clock=clock)  # type: ignore[attr-defined]
    for _ in range(2):
        assert client.post("/api/v1/ask", json={"text": "hello"}).status_code == 200
    limited = client.post("/api/v1/ask", json={"text": "hello"})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert "too many requests" in limited.json()["error"]
    assert client.get("/api/v1/session").status_code == 200
    grant = client.get("/api/v1/session")
    assert grant.status_code == 429 and grant.headers["Retry-After"] == "1"
    clock.now += 2.0  # the buckets refill
    assert client.post("/api/v1/ask", json={"text": "hello"}).status_code == 200
    assert client.get("/api/v1/session").status_code == 200


def test_per_session_limit_holds_across_addresses(client: TestClient, runtime: Runtime) -> None:
    clock = FakeClock()
    runtime.settings.limits.ask_per_session = RateRule(rate=0.1, burst=2)
    client.app.state.services.voice.limits = CustomerLimits(runtime.settings, clock=clock)  # type: ignore[attr-defined]
    first = ask(client, "hello")
    ask(client, "I lost my card", str(first["session_id"]), first["token"])
    limited = client.post("/api/v1/ask", json={"text": "again"}, headers=bearer(first["token"]))
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) == 10
    assert ask(client, "a new conversation is not held back")["decision"]


def test_logins_beyond_the_hashing_cap_are_refused_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.settings.limits.max_concurrent_logins = 1
    hashing, release = threading.Event(), threading.Event()
    app = create_app(runtime=runtime)
    with TestClient(app, follow_redirects=False) as client:
        staff = app.state.services.staff
        real_login = staff.login

        def slow_login(*args: object) -> object:
            hashing.set()
            assert release.wait(30)
            return real_login(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(staff, "login", slow_login)

        def attempt() -> int:
            page = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            form = {"username": "nobody", "password": "wrong", "csrf_token": token.group(1)}
            return client.post("/login", data=form).status_code

        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(attempt)
            assert hashing.wait(30)  # the first login holds the only hashing slot
            busy = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', busy.text)
            assert token
            refused = client.post(
                "/login", data={"username": "x", "password": "y", "csrf_token": token.group(1)}
            )
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            release.set()
            assert first.result(30) == 401
        release.set()
        assert attempt() == 401  # the slot is free again
