"""The operator queue: sessions waiting for a human, most urgent first, then longest waiting.

In-process and meant for one event loop: no method awaits, so each runs atomically
between other coroutines. Subscribers get every change on their own bounded
``asyncio.Queue`` (the oldest change is dropped when a slow console falls behind).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from server.brain.policy import Reason
from server.operator.errors import ClaimConflict, NotQueued


class QueueReason(StrEnum):
    URGENT = "urgent"  # fraud, stolen card, "someone took money"
    SECURITY = "security"  # freeze, block, unlock the account
    COMPLAINT = "complaint"
    NEGATIVE_SENTIMENT = "negative_sentiment"
    CUSTOMER_REQUEST = "customer_request"
    HANDOFF = "handoff"  # a Brain hand-off decision with no more specific reason
    LOW_CONFIDENCE = "low_confidence"
    NOT_COVERED = "not_covered"  # a bank question the approved knowledge has no answer for


# Lower is served first.
PRIORITY: Mapping[QueueReason, int] = {
    QueueReason.URGENT: 0,
    QueueReason.SECURITY: 0,
    QueueReason.COMPLAINT: 1,
    QueueReason.NEGATIVE_SENTIMENT: 2,
    QueueReason.CUSTOMER_REQUEST: 3,
    QueueReason.HANDOFF: 4,
    QueueReason.LOW_CONFIDENCE: 5,
    QueueReason.NOT_COVERED: 6,
}

BRAIN_REASONS: Mapping[Reason, QueueReason] = {
    Reason.URGENT: QueueReason.URGENT,
    Reason.COMPLAINT: QueueReason.COMPLAINT,
    Reason.CUSTOMER_REQUEST: QueueReason.CUSTOMER_REQUEST,
    Reason.LOW_CONFIDENCE: QueueReason.LOW_CONFIDENCE,
    Reason.SECURITY: QueueReason.SECURITY,
    Reason.NOT_COVERED: QueueReason.NOT_COVERED,
    Reason.ACCOUNT_DATA: QueueReason.HANDOFF,
}


def queue_reason(brain_reason: Reason | str | None) -> QueueReason:
    """The queue reason for a Brain hand-off verdict's reason (a stored row's string works too)."""
    if brain_reason is None or brain_reason not in Reason.__members__.values():
        return QueueReason.HANDOFF
    return BRAIN_REASONS.get(Reason(brain_reason), QueueReason.HANDOFF)


@dataclass(frozen=True, slots=True)
class QueueEntry:
    session_id: str
    reason: QueueReason
    joined_at: datetime
    order: int  # ties on joined_at keep arrival order
    claimed_by: str | None = None

    @property
    def priority(self) -> int:
        return PRIORITY[self.reason]

    def sort_key(self) -> tuple[int, datetime, int]:
        return (self.priority, self.joined_at, self.order)


ChangeKind = Literal["joined", "escalated", "claimed", "released", "removed"]


@dataclass(frozen=True, slots=True)
class QueueChange:
    kind: ChangeKind
    entry: QueueEntry


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OperatorQueue:
    """Sessions waiting for (or held by) an operator."""

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow, subscriber_buffer: int = 256) -> None:
        self._clock = clock
        self._entries: dict[str, QueueEntry] = {}
        self._counter = itertools.count()
        self._subscribers: list[asyncio.Queue[QueueChange]] = []
        self._buffer = subscriber_buffer

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._entries

    def get(self, session_id: str) -> QueueEntry | None:
        return self._entries.get(session_id)

    def entries(self, *, include_claimed: bool = True) -> list[QueueEntry]:
        """Most urgent first, then longest waiting."""
        found = [e for e in self._entries.values() if include_claimed or e.claimed_by is None]
        return sorted(found, key=QueueEntry.sort_key)

    def join(self, session_id: str, reason: QueueReason) -> QueueEntry:
        """Queue a session; a re-join with a more urgent reason escalates it, keeping its wait."""
        current = self._entries.get(session_id)
        if current is None:
            entry = QueueEntry(session_id, reason, self._clock(), next(self._counter))
            return self._set("joined", entry)
        if PRIORITY[reason] < current.priority:
            return self._set("escalated", replace(current, reason=reason))
        return current

    def claim(self, session_id: str, operator_id: str) -> QueueEntry:
        """Give the session to one operator; idempotent for the holder, ``ClaimConflict`` for others."""
        entry = self._require(session_id)
        if entry.claimed_by == operator_id:
            return entry
        if entry.claimed_by is not None:
            raise ClaimConflict(session_id, entry.claimed_by, operator_id)
        return self._set("claimed", replace(entry, claimed_by=operator_id))

    def release(self, session_id: str, operator_id: str) -> QueueEntry:
        """Put a held session back in the queue (it keeps its place)."""
        entry = self._require(session_id)
        if entry.claimed_by != operator_id:
            raise ClaimConflict(session_id, entry.claimed_by, operator_id)
        return self._set("released", replace(entry, claimed_by=None))

    def remove(self, session_id: str) -> QueueEntry | None:
        """Drop the session (it closed or went back to the bot); no-op when absent."""
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            self._publish(QueueChange("removed", entry))
        return entry

    def subscribe(self) -> asyncio.Queue[QueueChange]:
        changes: asyncio.Queue[QueueChange] = asyncio.Queue(maxsize=self._buffer)
        self._subscribers.append(changes)
        return changes

    def unsubscribe(self, changes: asyncio.Queue[QueueChange]) -> None:
        if changes in self._subscribers:
            self._subscribers.remove(changes)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _require(self, session_id: str) -> QueueEntry:
        entry = self._entries.get(session_id)
        if entry is None:
            raise NotQueued(session_id)
        return entry

    def _set(self, kind: ChangeKind, entry: QueueEntry) -> QueueEntry:
        self._entries[entry.session_id] = entry
        self._publish(QueueChange(kind, entry))
        return entry

    def _publish(self, change: QueueChange) -> None:
        for changes in self._subscribers:
            if changes.full():
                changes.get_nowait()
            changes.put_nowait(change)
