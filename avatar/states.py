"""Avatar states, expressions and the state machine with its table of legal moves."""

from __future__ import annotations

from enum import StrEnum

from avatar.errors import IllegalTransitionError


class AvatarState(StrEnum):
    """What the avatar is doing; each one has its own pose, gaze and motion."""

    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    CLOSED = "closed"


class Expression(StrEnum):
    """Facial expression layered over any state."""

    NEUTRAL = "neutral"
    SMILE = "smile"
    CONCERN = "concern"


_LIVE = frozenset({AvatarState.IDLE, AvatarState.LISTENING, AvatarState.THINKING, AvatarState.SPEAKING})

# The pipeline drives the four live states in any order (a typed question goes
# straight to THINKING, an operator may speak over LISTENING), so they are fully
# connected; CLOSED is terminal and only reachable through close().
LEGAL_TRANSITIONS: dict[AvatarState, frozenset[AvatarState]] = {
    **{state: _LIVE | {AvatarState.CLOSED} for state in _LIVE},
    AvatarState.CLOSED: frozenset(),
}


class StateMachine:
    """Holds the current state; ``move`` raises on a move missing from the table."""

    def __init__(self, initial: AvatarState = AvatarState.IDLE) -> None:
        self._state = initial

    @property
    def state(self) -> AvatarState:
        """The current state."""
        return self._state

    @property
    def closed(self) -> bool:
        """True once the renderer has been closed."""
        return self._state is AvatarState.CLOSED

    def move(self, target: AvatarState) -> bool:
        """Switch to ``target``; return False when already there, raise if illegal."""
        if target is self._state and target is not AvatarState.CLOSED:
            return False
        if target not in LEGAL_TRANSITIONS[self._state]:
            raise IllegalTransitionError(self._state.value, target.value)
        self._state = target
        return True
