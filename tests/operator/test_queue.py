from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from server.brain.policy import Reason
from server.operator.errors import ClaimConflict, NotQueued
from server.operator.queue import BRAIN_REASONS, PRIORITY, OperatorQueue, QueueReason, queue_reason

Q = QueueReason


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def make() -> OperatorQueue:
    return OperatorQueue(clock=Clock())


def test_priority_order() -> None:
    order = sorted(QueueReason, key=PRIORITY.__getitem__)
    assert order[0] is Q.URGENT and order[-1] is Q.NOT_COVERED
    assert PRIORITY[Q.SECURITY] == PRIORITY[Q.URGENT]  # freeze, block, unlock: first, with fraud
    assert order.index(Q.COMPLAINT) < order.index(Q.CUSTOMER_REQUEST) < order.index(Q.LOW_CONFIDENCE)


def test_entries_sorted_by_priority_then_wait() -> None:
    q = make()
    q.join("low-old", Q.LOW_CONFIDENCE)
    q.join("req-old", Q.CUSTOMER_REQUEST)
    q.join("complaint", Q.COMPLAINT)
    q.join("req-new", Q.CUSTOMER_REQUEST)
    q.join("fraud", Q.URGENT)
    assert [e.session_id for e in q.entries()] == ["fraud", "complaint", "req-old", "req-new", "low-old"]


def test_same_instant_keeps_arrival_order() -> None:
    fixed = datetime(2025, 1, 1, tzinfo=UTC)
    q = OperatorQueue(clock=lambda: fixed)
    for sid in ("a", "b", "c"):
        q.join(sid, Q.COMPLAINT)
    assert [e.session_id for e in q.entries()] == ["a", "b", "c"]


def test_rejoin_escalates_but_never_demotes_and_keeps_wait_time() -> None:
    q = make()
    first = q.join("s", Q.LOW_CONFIDENCE)
    assert q.join("s", Q.LOW_CONFIDENCE) == first
    up = q.join("s", Q.URGENT)
    assert up.reason is Q.URGENT and up.joined_at == first.joined_at
    assert q.join("s", Q.CUSTOMER_REQUEST).reason is Q.URGENT
    assert len(q) == 1


def test_claim_is_exclusive_and_idempotent() -> None:
    q = make()
    q.join("s", Q.COMPLAINT)
    held = q.claim("s", "op-1")
    assert held.claimed_by == "op-1"
    assert q.claim("s", "op-1") == held
    with pytest.raises(ClaimConflict) as info:
        q.claim("s", "op-2")
    assert info.value.holder == "op-1" and info.value.retryable is False
    assert q.get("s") == held


def test_release_only_by_holder_and_keeps_place() -> None:
    q = make()
    q.join("a", Q.COMPLAINT)
    q.join("b", Q.COMPLAINT)
    q.claim("a", "op-1")
    assert [e.session_id for e in q.entries(include_claimed=False)] == ["b"]
    with pytest.raises(ClaimConflict):
        q.release("a", "op-2")
    with pytest.raises(ClaimConflict):
        q.release("b", "op-1")  # unclaimed
    q.release("a", "op-1")
    assert [e.session_id for e in q.entries(include_claimed=False)] == ["a", "b"]
    assert q.claim("a", "op-2").claimed_by == "op-2"


def test_unknown_session_and_remove() -> None:
    q = make()
    with pytest.raises(NotQueued):
        q.claim("nope", "op-1")
    with pytest.raises(NotQueued):
        q.release("nope", "op-1")
    q.join("s", Q.URGENT)
    q.claim("s", "op-1")
    assert q.remove("s") is not None and "s" not in q
    assert q.remove("s") is None


@pytest.mark.parametrize(
    ("brain", "expected"),
    [
        (Reason.URGENT, Q.URGENT),
        (Reason.COMPLAINT, Q.COMPLAINT),
        (Reason.CUSTOMER_REQUEST, Q.CUSTOMER_REQUEST),
        (Reason.LOW_CONFIDENCE, Q.LOW_CONFIDENCE),
        (Reason.SECURITY, Q.SECURITY),
        (Reason.NOT_COVERED, Q.NOT_COVERED),
        ("urgent", Q.URGENT),
        (Reason.AMBIGUOUS, Q.HANDOFF),
        ("no-such-reason", Q.HANDOFF),
        (None, Q.HANDOFF),
    ],
)
def test_brain_reason_mapping(brain: Reason | str | None, expected: QueueReason) -> None:
    assert queue_reason(brain) is expected


def test_mapping_covers_every_brain_handoff_reason() -> None:
    assert set(BRAIN_REASONS) == {
        Reason.URGENT,
        Reason.COMPLAINT,
        Reason.CUSTOMER_REQUEST,
        Reason.LOW_CONFIDENCE,
        Reason.SECURITY,
        Reason.NOT_COVERED,
        Reason.ACCOUNT_DATA,
    }


async def test_subscribers_see_every_change_in_order() -> None:
    q = make()
    changes = q.subscribe()
    q.join("s", Q.LOW_CONFIDENCE)
    q.join("s", Q.COMPLAINT)
    q.claim("s", "op-1")
    q.claim("s", "op-1")  # idempotent: no event
    q.release("s", "op-1")
    q.remove("s")
    kinds = [changes.get_nowait().kind for _ in range(changes.qsize())]
    assert kinds == ["joined", "escalated", "claimed", "released", "removed"]
    q.unsubscribe(changes)
    q.unsubscribe(changes)
    q.join("t", Q.URGENT)
    assert changes.empty() and q.subscriber_count == 0


async def test_waiting_subscriber_is_woken() -> None:
    q = make()
    changes = q.subscribe()
    waiter = asyncio.create_task(changes.get())
    await asyncio.sleep(0)
    q.join("s", Q.URGENT)
    change = await asyncio.wait_for(waiter, 1)
    assert change.entry.session_id == "s"


async def test_slow_subscriber_drops_oldest() -> None:
    q = OperatorQueue(clock=Clock(), subscriber_buffer=2)
    changes = q.subscribe()
    for sid in ("a", "b", "c"):
        q.join(sid, Q.COMPLAINT)
    assert [changes.get_nowait().entry.session_id for _ in range(2)] == ["b", "c"]
