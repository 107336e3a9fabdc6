"""The takeover gate: session modes, operator queue, hand-off brief, console protocol, command bus."""

from server.operator.brief import HandoffBrief, ProblemLookup, build_brief, check_numeric_consistency
from server.operator.bus import CommandBus, CommandSubscription, InProcessBus, Subscription
from server.operator.commands import (
    CONSOLE_EVENT,
    AckEvent,
    ConsoleEvent,
    ErrorEvent,
    IdempotencyLedger,
    OperatorCommand,
    parse_command,
)
from server.operator.errors import (
    BadCommand,
    BusClosed,
    BusOverflow,
    ClaimConflict,
    IllegalTransition,
    NotQueued,
    OperatorError,
)
from server.operator.queue import (
    BRAIN_REASONS,
    PRIORITY,
    OperatorQueue,
    QueueChange,
    QueueEntry,
    QueueReason,
    queue_reason,
)
from server.operator.states import LEGAL_MOVES, AuditSink, ModeMachine, SessionMode, Transition, is_legal

__all__ = [
    "BRAIN_REASONS",
    "CONSOLE_EVENT",
    "LEGAL_MOVES",
    "PRIORITY",
    "AckEvent",
    "AuditSink",
    "BadCommand",
    "BusClosed",
    "BusOverflow",
    "ClaimConflict",
    "CommandBus",
    "CommandSubscription",
    "ConsoleEvent",
    "ErrorEvent",
    "HandoffBrief",
    "IdempotencyLedger",
    "IllegalTransition",
    "InProcessBus",
    "ModeMachine",
    "NotQueued",
    "OperatorCommand",
    "OperatorError",
    "OperatorQueue",
    "ProblemLookup",
    "QueueChange",
    "QueueEntry",
    "QueueReason",
    "SessionMode",
    "Subscription",
    "Transition",
    "build_brief",
    "check_numeric_consistency",
    "is_legal",
    "parse_command",
    "queue_reason",
]
