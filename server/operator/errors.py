"""Typed errors of the takeover gate. ``retryable``: the same request may succeed later."""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every takeover-gate failure; ``code`` is what the console shows."""

    retryable: bool = False
    code: str = "operator_error"


class IllegalTransition(OperatorError):
    """A mode change the table of legal moves does not allow."""

    code = "illegal_transition"

    def __init__(self, current: str, wanted: str) -> None:
        self.current = current
        self.wanted = wanted
        super().__init__(f"cannot move a session from {str(current)!r} to {str(wanted)!r}")


class NotQueued(OperatorError):
    code = "not_queued"

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"session {session_id!r} is not in the operator queue")


class ClaimConflict(OperatorError):
    """Another operator already holds the session (or the caller does not)."""

    code = "claim_conflict"

    def __init__(self, session_id: str, holder: str | None, operator_id: str) -> None:
        self.session_id = session_id
        self.holder = holder
        self.operator_id = operator_id
        who = f"operator {holder!r}" if holder else "nobody"
        super().__init__(f"session {session_id!r} is held by {who}, not {operator_id!r}")


class BadCommand(OperatorError):
    """A console message that is too big, not JSON, or not a known command."""

    code = "bad_command"


class BusOverflow(OperatorError):
    """A subscriber's queue is full; the publisher may try again."""

    retryable = True
    code = "bus_overflow"


class BusClosed(OperatorError):
    code = "bus_closed"


class UnknownSession(OperatorError):
    """No live session with that id (it ended, or never existed)."""

    code = "unknown_session"

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"no live session {session_id!r}")


class WrongMode(OperatorError):
    """The command needs another mode first (e.g. ``say`` before ``take_over``)."""

    code = "wrong_mode"


class UnknownDraft(OperatorError):
    code = "unknown_draft"


class CommandTimeout(OperatorError):
    """The session did not confirm the command in time; resending it is safe."""

    retryable = True
    code = "timeout"


class LineNotSaved(OperatorError):
    """The store stayed unreachable: the operator's line was neither saved nor spoken."""

    retryable = True
    code = "not_saved"
