"""The parts of resuming a session, without workers: the resume token, the mode a session resumes in,
what a worker reads back from the store, and a hub that keeps the operator's claim."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from server.brain.memory import MemoryStore, Speaker, Turn
from server.operator.bus import InProcessOperatorBus
from server.operator.commands import Say, TakeOver
from server.operator.errors import ClaimConflict
from server.operator.events import SessionListEvent
from server.operator.hub import ConsoleFeed, OperatorHub
from server.operator.messages import Flagged, ModeChanged, SessionOpened
from server.operator.states import SESSION_RESUMED, SYSTEM_ACTOR, ModeMachine, SessionMode, resumed_mode
from server.store.store import Store, TurnRecord
from server.voice.resume import NEW_SESSION, SessionEnded, load_history, pick_up
from server.voice.transport.tokens import SessionTokens, TokenError

pytestmark = pytest.mark.cluster
M = SessionMode


def test_a_resume_token_is_the_old_token_whatever_worker_it_names() -> None:
    tokens = SessionTokens("resume-test-secret-0123456789", ttl_secs=900)
    token = tokens.issue("s1", "host-01")
    claims = tokens.verify_resume(token, max_age_s=3600)
    assert (claims.session_id, claims.worker) == ("s1", "host-01")
    forged = SessionTokens("another-secret-0123456789abcdef", ttl_secs=900).issue("s1", "host-01")
    with pytest.raises(TokenError):
        tokens.verify_resume(forged, max_age_s=3600)
    with pytest.raises(TokenError):
        tokens.verify_resume(None, max_age_s=3600)


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        ([], (M.BOT, None)),
        ([("olivia", M.HUMAN)], (M.HUMAN, "olivia")),  # its worker died while she held it
        ([("olivia", M.HUMAN), (SYSTEM_ACTOR, M.CLOSED)], (M.HUMAN, "olivia")),  # the call dropped
        ([("olivia", M.ASSIST), ("olivia", M.BOT)], (M.BOT, None)),
        ([("olivia", M.HUMAN), ("oscar", M.ASSIST)], (M.ASSIST, "oscar")),
        ([("olivia", M.HUMAN), ("olivia", M.CLOSED)], (M.CLOSED, "olivia")),  # she closed it: final
    ],
)
def test_the_mode_a_session_resumes_in(
    moves: list[tuple[str, SessionMode]], expected: tuple[SessionMode, str | None]
) -> None:
    assert resumed_mode(moves) == expected


def test_a_worker_reads_the_session_back_and_gives_the_brain_its_memory(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'teller.db'}")
    try:
        assert load_history(store, "new") is NEW_SESSION
        store.record_turns([TurnRecord("s1", "customer", "How do I freeze my card?")], channel="voice")
        citations = [{"problem_id": "freeze_card"}]
        store.record_turn(TurnRecord("s1", "bot", "Open the app, then Card.", citations=citations))
        machine = ModeMachine("s1", store)
        machine.move(M.HUMAN, actor="olivia", why="take over")
        store.record_turn(TurnRecord("s1", "operator", "Hello, I am Olivia."))
        machine.move(M.CLOSED, why="session ended")  # the customer's connection dropped

        history = load_history(store, "s1")
        assert (history.mode, history.claimed_by, history.resumed) == (M.HUMAN, "olivia", True)
        assert [(t.speaker, t.problem_id) for t in history.turns] == [
            (Speaker.CUSTOMER, None),
            (Speaker.BOT, "freeze_card"),
            (Speaker.OPERATOR, None),
        ]
        assert [line.text for line in history.event().lines][-1] == "Hello, I am Olivia."

        brain = SimpleNamespace(memory=MemoryStore())
        brain.memory.get("s1").add(Turn(Speaker.CUSTOMER, "a line this worker heard before"))
        pick_up(store, brain, "s1", history)  # type: ignore[arg-type]  # only its memory is used
        assert brain.memory.get("s1").turns == list(history.turns)
        assert brain.memory.get("s1").last_problem_id == "freeze_card"
        resumed = [row for row in store.audit_log("s1") if row.action == SESSION_RESUMED]
        assert [row.detail["claimed_by"] for row in resumed] == ["olivia"]

        ModeMachine("s1", store, mode=M.HUMAN).move(M.CLOSED, actor="olivia", why="set mode closed")
        with pytest.raises(SessionEnded):
            load_history(store, "s1")
    finally:
        store.close()


async def _listed_with_flag(feed: ConsoleFeed, flag: str) -> None:
    while True:
        event = await asyncio.wait_for(feed.get(), 10)
        if isinstance(event, SessionListEvent) and any(flag in s.flags for s in event.sessions):
            return


async def test_a_hub_keeps_the_operator_of_a_session_picked_up_again(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'teller.db'}")
    bus = InProcessOperatorBus()
    hub = OperatorHub(store, lambda _problem: None, bus=bus, confirm_timeout_s=0.5)
    hub.start()
    feed = hub.connect()
    at = datetime.now(UTC)
    try:
        bus.reports.publish(SessionOpened(session_id="s1", channel="websocket"))
        bus.reports.publish(
            ModeChanged(session_id="s1", previous=M.BOT, mode=M.HUMAN, actor="olivia", why="take over", at=at)
        )
        # Its worker died; the customer resumed on another one, which announces it again as it was.
        bus.reports.publish(
            SessionOpened(session_id="s1", channel="websocket", mode=M.HUMAN, claimed_by="olivia")
        )
        bus.reports.publish(Flagged(session_id="s1", flag="after"))  # once seen, all before are applied
        await _listed_with_flag(feed, "after")
        (summary,) = hub.sessions()
        assert (summary.mode, summary.claimed_by) == (M.HUMAN, "olivia")
        with pytest.raises(ClaimConflict):
            await hub.execute("oscar", TakeOver(client_msg_id="m1", session_id="s1"), feed)
        commands = bus.commands.subscribe("s1")
        say = Say(client_msg_id="m2", session_id="s1", text="Still here.")
        running = asyncio.create_task(hub.execute("olivia", say, feed))
        dispatch = await asyncio.wait_for(anext(commands), 10)  # the claim lets her command through
        assert dispatch.operator == "olivia" and dispatch.command == say
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await commands.aclose()
    finally:
        await hub.aclose()
        store.close()
