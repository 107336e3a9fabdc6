"""Operator takeover on a live server: a customer on the websocket transport, an operator console."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
import websockets

from bench.harness.operator_probe import ConsoleProbe, CustomerProbe, staff_login
from server.auth.users import Role, UserDirectory
from server.brain.memory import Speaker
from server.operator.brief import HandoffBrief, check_numeric_consistency
from tests.voice.conftest import LiveServer

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
LONG_QUESTION = "How do I get a refund for a card payment I did not recognise?"


@pytest.fixture(scope="module")
def staff(live_server: LiveServer) -> dict[str, str]:
    users = UserDirectory(live_server.runtime.store.engine)
    for name, role in (("olivia", Role.OPERATOR), ("oscar", Role.OPERATOR), ("edna", Role.EDITOR)):
        if users.get(name) is None:
            users.add(name, role, PASSWORD)
    return {"operator": "olivia", "other": "oscar", "editor": "edna"}


@pytest.fixture()
async def console(live_server: LiveServer, staff: dict[str, str]) -> AsyncIterator[ConsoleProbe]:
    cookies = await staff_login(live_server.base_url, staff["operator"], PASSWORD)
    async with ConsoleProbe(live_server.base_url, cookies) as probe:
        yield probe


async def _bot_text(customer: CustomerProbe, since: float, speaker: str = "bot") -> dict[str, Any]:
    return await customer.heard.event(
        lambda e: e["type"] == "bot_text" and e["speaker"] == speaker, 60, since
    )


async def test_queue_brief_takeover_say_customer_reply_and_hand_back(  # noqa: PLR0915 (one story)
    live_server: LiveServer, console: ConsoleProbe
) -> None:
    store = live_server.runtime.store
    async with CustomerProbe(live_server.base_url) as customer:
        sid = customer.session_id
        await console.inbox.event(
            lambda e: e["type"] == "session_list" and any(s["session_id"] == sid for s in e["sessions"]), 10
        )
        # 1. the customer asks for a person: the session joins the queue with a brief
        since = time.monotonic()
        await customer.say("I topped up £42.50 on 3 March and the money has not arrived")
        await _bot_text(customer, since)
        since = time.monotonic()
        await customer.say("I want to talk to a person")
        handoff = await _bot_text(customer, since)
        assert handoff["decision"] == "handoff"
        queue = await console.inbox.event(
            lambda e: e["type"] == "queue" and any(q["session_id"] == sid for q in e["entries"]), 20, since
        )
        entry = next(q for q in queue["entries"] if q["session_id"] == sid)
        assert entry["reason"] == "customer_request" and entry["claimed_by"] is None
        brief_event = await console.inbox.event(lambda e: e["type"] == "brief" and e["session_id"] == sid, 20)
        brief = HandoffBrief.model_validate(brief_event["brief"])
        assert "£42.50" in brief.amounts and brief.dates and brief.bot_said
        transcript = [row.text for row in store.transcript(sid)]
        assert check_numeric_consistency(brief, transcript) == []
        ticket = None
        for _ in range(20):  # the hand-off ticket is written off the customer's path
            since = time.monotonic()
            assert (await console.command({"type": "watch", "session_id": sid}))["type"] == "ack"
            watched = await console.inbox.event(
                lambda e: e["type"] == "brief" and e["session_id"] == sid, 10, since
            )
            if (ticket := watched["ticket"]) is not None:
                break
            await asyncio.sleep(0.5)
        assert ticket is not None and "£42.50" in ticket["amounts"]

        # 2. take over while the bot is speaking: its speech stops, the customer is told
        since = time.monotonic()
        await customer.say(LONG_QUESTION)
        await customer.wait_speech(since, 60)
        taking_over = time.monotonic()
        ack = await console.command({"type": "take_over", "session_id": sid})
        assert ack["type"] == "ack"
        notice = await customer.heard.event(lambda e: e["type"] == "session" and e["state"] == "human", 10)
        assert notice["notice"] == "You are now talking with olivia."
        # The transport tells the customer where the bot's output was interrupted; after that at most
        # the one audio chunk it was already writing may follow (how soon the cut comes after the
        # command is a latency, measured by bench/takeover.py, not asserted here).
        interrupted_at = await customer.heard.until(
            lambda: next(
                (t for t, e in customer.heard.events if t >= taking_over and e["type"] == "interrupt"), None
            ),
            60,
        )
        await asyncio.sleep(1.5)
        late = [t for t in customer.heard.speech_frames if t > interrupted_at]
        assert len(late) <= 1, f"{len(late)} chunks of bot speech came after the interruption"
        cut = [r for r in store.transcript(sid) if r.speaker == "bot"][-1]
        assert cut.spoken_text is not None and len(cut.spoken_text) < len(cut.text)

        # 3. the operator's line is committed, then spoken in the avatar's voice
        since = time.monotonic()
        ack = await console.command(
            {"type": "say", "session_id": sid, "text": "Hello, I am Olivia. Let me check that."}
        )
        assert ack["type"] == "ack"
        line = store.transcript(sid)[-1]
        assert (line.speaker, line.operator) == ("operator", "olivia")  # who spoke it
        spoken = await _bot_text(customer, since, speaker="operator")
        assert spoken["text"] == "Hello, I am Olivia. Let me check that."
        await customer.wait_speech(since, 30)

        # 4. the customer's reply reaches the operator, and the Brain stays silent
        since = time.monotonic()
        await customer.say("It was a card top-up from my Visa")
        turn = await console.inbox.event(
            lambda e: (
                e["type"] == "transcript"
                and e["session_id"] == sid
                and e["turns"][-1]["speaker"] == "customer"
            ),
            20,
            since,
        )
        assert "Visa" in turn["turns"][-1]["text"]
        await asyncio.sleep(1.0)
        assert customer.events("bot_text", since) == []

        # 5. hand back: the Brain answers again, with the operator's turns in its memory
        ack = await console.command({"type": "hand_back", "session_id": sid})
        assert ack["type"] == "ack"
        await customer.heard.event(lambda e: e["type"] == "session" and e["state"] == "bot", 10)
        since = time.monotonic()
        await customer.say("How do I change my PIN?")
        answer = await _bot_text(customer, since)
        assert answer["decision"] == "answer"
        memory = live_server.runtime.brain.memory.get(sid)
        assert any(t.speaker is Speaker.OPERATOR for t in memory.turns)
        last_queue = [e for _, e in console.inbox.events if e["type"] == "queue"][-1]
        assert sid not in {q["session_id"] for q in last_queue["entries"]}
        moves = [a.detail["mode"] for a in store.audit_log(sid) if a.action == "mode_change"]
        assert moves == ["human", "bot"]
        assert ("olivia", "transcript.view") in {(a.actor, a.action) for a in store.audit_log(sid)}


async def test_assist_mode_drafts_need_the_operator(live_server: LiveServer, console: ConsoleProbe) -> None:
    store = live_server.runtime.store
    async with CustomerProbe(live_server.base_url) as customer:
        sid = customer.session_id
        assert (await console.command({"type": "set_mode", "session_id": sid, "mode": "assist"}))[
            "type"
        ] == "ack"
        drafts: list[dict[str, Any]] = []
        for question in ("How do I change my PIN?", "How do I freeze my card?", "What is the ATM limit?"):
            since = time.monotonic()
            await customer.say(question)
            drafts.append(
                await console.inbox.event(
                    lambda e: e["type"] == "draft" and e["session_id"] == sid, 60, since
                )
            )
        assert customer.events("bot_text") == []  # nothing is spoken before the operator decides

        since = time.monotonic()
        assert (
            await console.command({"type": "approve", "session_id": sid, "draft_id": drafts[0]["draft_id"]})
        )["type"] == "ack"
        assert (await _bot_text(customer, since))["text"] == drafts[0]["text"]
        edited = "You can change your PIN in the app under Card, then Security."
        since = time.monotonic()
        reply = await console.command(
            {"type": "edit", "session_id": sid, "draft_id": drafts[1]["draft_id"], "text": edited}
        )
        assert reply["type"] == "ack"
        assert (await _bot_text(customer, since, speaker="operator"))["text"] == edited
        since = time.monotonic()
        reject = await console.command(
            {"type": "reject", "session_id": sid, "draft_id": drafts[2]["draft_id"]}
        )
        assert reject["type"] == "ack"
        again = await console.command(
            {"type": "approve", "session_id": sid, "draft_id": drafts[2]["draft_id"]}
        )
        assert again["type"] == "error" and again["code"] == "unknown_draft"
        await asyncio.sleep(1.0)
        assert customer.events("bot_text", since) == []
        speakers = [(r.speaker, r.text) for r in store.transcript(sid) if r.speaker != "customer"]
        assert speakers == [("bot", drafts[0]["text"]), ("operator", edited)]
        # the Brain remembers what was said: no rejected or rewritten draft, the operator's edit
        said = [(t.speaker, t.text) for t in live_server.runtime.brain.memory.get(sid).turns]
        assert (Speaker.BOT, drafts[0]["text"]) in said and (Speaker.OPERATOR, edited) in said
        assert not {d["text"] for d in drafts[1:]} & {
            text for speaker, text in said if speaker is Speaker.BOT
        }


async def test_an_operator_closing_the_session_ends_the_customers_call(
    live_server: LiveServer, console: ConsoleProbe
) -> None:
    manager = live_server.app.state.services.voice.manager
    async with CustomerProbe(live_server.base_url) as customer:
        sid = customer.session_id
        since = time.monotonic()
        await customer.say(LONG_QUESTION)
        await _bot_text(customer, since)
        closed = await console.command({"type": "set_mode", "session_id": sid, "mode": "closed"})
        assert closed["type"] == "ack"
        notice = await customer.heard.event(lambda e: e["type"] == "session" and e["state"] == "closed", 20)
        assert "closed" in notice["notice"]
        deadline = time.monotonic() + 30
        while manager.get(sid) is not None:  # the pipeline ended and the customer's socket closed
            assert time.monotonic() < deadline, "the session was still live after it was closed"
            await asyncio.sleep(0.1)
    moves = [a.detail["mode"] for a in live_server.runtime.store.audit_log(sid) if a.action == "mode_change"]
    assert moves == ["closed"]


async def test_illegal_moves_conflicts_and_idempotent_resend(
    live_server: LiveServer, console: ConsoleProbe, staff: dict[str, str]
) -> None:
    store = live_server.runtime.store
    async with CustomerProbe(live_server.base_url) as customer:
        sid = customer.session_id
        illegal = await console.command({"type": "hand_back", "session_id": sid})
        assert illegal["type"] == "error" and illegal["code"] == "illegal_transition"
        wrong = await console.command({"type": "say", "session_id": sid, "text": "hello"})
        assert wrong["type"] == "error" and wrong["code"] == "wrong_mode"
        unknown = await console.command({"type": "take_over", "session_id": "no-such-session"})
        assert unknown["type"] == "error" and unknown["code"] == "unknown_session"
        bad = await console.command({"type": "launch_missiles", "session_id": sid})
        assert bad["type"] == "error" and bad["code"] == "bad_command"

        assert (await console.command({"type": "take_over", "session_id": sid}))["type"] == "ack"
        other_cookies = await staff_login(live_server.base_url, staff["other"], PASSWORD)
        async with ConsoleProbe(live_server.base_url, other_cookies) as other:
            conflict = await other.command({"type": "say", "session_id": sid, "text": "me too"})
            assert conflict["type"] == "error" and conflict["code"] == "claim_conflict"

        line = {"client_msg_id": "say-once-1", "type": "say", "session_id": sid, "text": "Only once, please."}
        first = await console.resend(line)
        second = await console.resend(line)  # e.g. after a reconnect
        assert first == second == {"type": "ack", "client_msg_id": "say-once-1"}
        assert [r.text for r in store.transcript(sid)].count("Only once, please.") == 1


async def test_operator_speaks_into_the_mic_and_the_avatar_says_it(
    live_server: LiveServer, console: ConsoleProbe, speak: Any
) -> None:
    async with CustomerProbe(live_server.base_url) as customer:
        sid = customer.session_id
        assert (await console.command({"type": "take_over", "session_id": sid}))["type"] == "ack"
        since = time.monotonic()
        line = np.concatenate([speak("Your new card is on its way.", 16_000), np.zeros(8_000, np.int16)])
        assert (await console.say_audio(sid, line))["type"] == "ack"
        said = await _bot_text(customer, since, speaker="operator")
        assert "card" in said["text"].lower() and "way" in said["text"].lower()
        await customer.wait_speech(since, 30)
        silence = await console.say_audio(sid, np.zeros(16_000, np.int16))
        assert silence["type"] == "error" and silence["code"] == "asr_empty" and silence["retryable"]
        too_short = await console.say_audio(sid, np.zeros(100, np.int16))
        assert too_short["type"] == "error" and too_short["code"] == "bad_command"


async def test_console_needs_a_staff_login_and_the_same_origin(
    live_server: LiveServer, staff: dict[str, str]
) -> None:
    base = live_server.base_url
    url = base.replace("http://", "ws://") + "/api/v1/operator/ws"
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(url, origin=base)  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=base, trust_env=False) as http:
        grant = (await http.get("/api/v1/session")).json()
        assert (await http.get("/operator")).status_code == 303
        assert (await http.get("/api/v1/operator/sessions")).status_code == 401
    with pytest.raises(websockets.InvalidStatus):  # a customer token opens nothing here
        await websockets.connect(f"{url}?token={grant['token']}", origin=base)  # type: ignore[arg-type]
    editor = await staff_login(base, staff["editor"], PASSWORD)
    with pytest.raises(websockets.InvalidStatus):
        async with ConsoleProbe(base, editor):
            pass
    operator = await staff_login(base, staff["operator"], PASSWORD)
    with pytest.raises(websockets.InvalidStatus):
        async with ConsoleProbe(base, operator, origin="http://evil.example"):
            pass
    async with httpx.AsyncClient(base_url=base, trust_env=False, cookies=operator) as http:
        page = await http.get("/operator")
        assert page.status_code == 200 and "Operator console" in page.text
        assert (await http.get("/api/v1/operator/sessions")).status_code == 200
