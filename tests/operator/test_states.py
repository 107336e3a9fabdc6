from __future__ import annotations

from datetime import UTC, datetime
from itertools import product
from typing import Any

import pytest

from server.operator.errors import IllegalTransition, OperatorError
from server.operator.states import LEGAL_MOVES, AuditSink, ModeMachine, SessionMode, is_legal

M = SessionMode
LEGAL = {
    (M.BOT, M.ASSIST),
    (M.BOT, M.HUMAN),
    (M.BOT, M.CLOSED),
    (M.ASSIST, M.BOT),
    (M.ASSIST, M.HUMAN),
    (M.ASSIST, M.CLOSED),
    (M.HUMAN, M.ASSIST),
    (M.HUMAN, M.BOT),
    (M.HUMAN, M.CLOSED),
}
ALL_PAIRS = list(product(SessionMode, SessionMode))
NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


class FakeAuditSink:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, str | None, dict[str, Any]]] = []
        self.fail = fail

    def audit(self, actor: str, action: str, session_id: str | None, **detail: Any) -> None:
        if self.fail:
            raise RuntimeError("audit store down")
        self.calls.append((actor, action, session_id, detail))


def machine(mode: SessionMode, sink: FakeAuditSink) -> ModeMachine:
    return ModeMachine("s1", sink, mode=mode, clock=lambda: NOW)


def test_table_matches_the_architecture() -> None:
    assert {(a, b) for a, targets in LEGAL_MOVES.items() for b in targets} == LEGAL
    assert set(LEGAL_MOVES) == set(SessionMode)


@pytest.mark.parametrize(("current", "wanted"), sorted(LEGAL))
def test_legal_move_is_audited_and_applied(current: SessionMode, wanted: SessionMode) -> None:
    sink = FakeAuditSink()
    m = machine(current, sink)
    t = m.move(wanted, actor="op-7", why="customer asked")
    assert m.mode is wanted and is_legal(current, wanted)
    assert (t.previous, t.mode, t.actor, t.why, t.at, t.session_id) == (
        current,
        wanted,
        "op-7",
        "customer asked",
        NOW,
        "s1",
    )
    assert sink.calls == [
        (
            "op-7",
            "mode_change",
            "s1",
            {"previous": current.value, "mode": wanted.value, "why": "customer asked", "at": NOW.isoformat()},
        )
    ]


@pytest.mark.parametrize(("current", "wanted"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_move_raises_and_changes_nothing(current: SessionMode, wanted: SessionMode) -> None:
    sink = FakeAuditSink()
    m = machine(current, sink)
    with pytest.raises(IllegalTransition) as info:
        m.move(wanted, why="x")
    err = info.value
    assert isinstance(err, OperatorError) and err.retryable is False
    assert (err.current, err.wanted) == (current, wanted)
    assert f"from {current.value!r} to {wanted.value!r}" in str(err)
    assert m.mode is current and sink.calls == [] and not m.can(wanted)


def test_nothing_leaves_closed() -> None:
    m = machine(M.BOT, FakeAuditSink())
    m.move(M.CLOSED, why="customer left")
    for mode in SessionMode:
        assert not m.can(mode)


def test_audit_is_written_before_the_move_is_acknowledged() -> None:
    events: list[str] = []

    class OrderSink(FakeAuditSink):
        def audit(self, actor: str, action: str, session_id: str | None, **detail: Any) -> None:
            events.append(f"audit while {m.mode}")
            super().audit(actor, action, session_id, **detail)

    sink = OrderSink()
    m = machine(M.BOT, sink)
    m.move(M.HUMAN, actor="op-1", why="takeover")
    events.append(f"ack {m.mode}")
    assert events == ["audit while bot", "ack human"]


def test_failed_audit_leaves_the_mode_unchanged() -> None:
    m = machine(M.BOT, FakeAuditSink(fail=True))
    with pytest.raises(RuntimeError):
        m.move(M.HUMAN, actor="op-1", why="takeover")
    assert m.mode is M.BOT


def test_system_is_the_default_actor_and_a_full_round_is_recorded() -> None:
    sink = FakeAuditSink()
    m = machine(M.BOT, sink)
    for mode in (M.ASSIST, M.HUMAN, M.BOT, M.HUMAN, M.CLOSED):
        m.move(mode, why="round")
    assert [c[3]["mode"] for c in sink.calls] == ["assist", "human", "bot", "human", "closed"]
    assert {c[0] for c in sink.calls} == {"system"}


def test_store_satisfies_audit_sink() -> None:
    from server.store.store import Store

    store = Store.from_url("sqlite:///:memory:")
    try:
        sink: AuditSink = store
        m = ModeMachine("s9", sink)
        m.move(M.ASSIST, actor="op-2", why="low confidence")
        rows = store.audit_log("s9")
        assert [(r.actor, r.action, r.detail["mode"], r.detail["why"]) for r in rows] == [
            ("op-2", "mode_change", "assist", "low confidence")
        ]
    finally:
        store.close()
