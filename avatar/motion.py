"""Life-like motion shared by the renderers: blinks, gaze, breathing, head pose, expression."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar.states import AvatarState, Expression

_BLINK_CLOSE_S = 0.07
_BLINK_HOLD_S = 0.04
_BLINK_OPEN_S = 0.13


@dataclass
class Motion:
    """One frame's motion, updated in place by ``Animator.step``."""

    blink: float = 0.0  # 0 open .. 1 closed
    gaze_x: float = 0.0  # -1 left .. 1 right (viewer's view)
    gaze_y: float = 0.0  # -1 up .. 1 down
    tilt_deg: float = 0.0  # head roll, positive = towards viewer's right
    head_dx: float = 0.0  # pixels at 512
    head_dy: float = 0.0
    breath: float = 0.0  # -1..1
    smile: float = 0.0  # expression weights 0..1
    concern: float = 0.0
    attentive: float = 0.0  # listening: eyes a little wider, brows up


class Animator:
    """Deterministic (seeded) motion generator advanced once per frame.

    Blinks come at gamma-distributed intervals (mean ~3.6 s, sometimes double);
    gaze makes small saccades when idle, holds the viewer when listening or
    speaking and looks up and aside when thinking; the head breathes, sways and,
    while speaking, nods a little with the speech energy.
    """

    def __init__(self, fps: int, seed: int | None) -> None:
        self.fps = fps
        self._rng = np.random.default_rng(seed)
        self.motion = Motion()
        self._t = 0.0
        self._next_blink = float(self._rng.uniform(0.8, 2.5))
        self._blink_start = -10.0
        self._next_saccade = 0.5
        self._gaze_target = (0.0, 0.0)
        self._think_side = 1.0
        self._phases = self._rng.uniform(0, 2 * math.pi, size=6)
        self._state = AvatarState.IDLE

    def step(self, t: float, state: AvatarState, expression: Expression, speech_level: float) -> Motion:
        """Advance to time ``t`` (seconds since the stream started)."""
        dt = max(1e-3, t - self._t) if self._t else 1.0 / self.fps
        self._t = t
        m = self.motion
        if state is not self._state:
            self._enter(state, t)
        m.blink = self._blink(t, state)
        self._gaze(t, state, dt)
        self._head(t, state, dt, speech_level)
        k = 1.0 - math.exp(-dt / 0.18)
        m.smile += ((1.0 if expression is Expression.SMILE else 0.0) - m.smile) * k
        m.concern += ((1.0 if expression is Expression.CONCERN else 0.0) - m.concern) * k
        m.attentive += ((1.0 if state is AvatarState.LISTENING else 0.0) - m.attentive) * k
        return m

    def _enter(self, state: AvatarState, t: float) -> None:
        self._state = state
        if state is AvatarState.THINKING:
            self._think_side = float(self._rng.choice([-1.0, 1.0]))
            self._gaze_target = (0.6 * self._think_side, -0.75)
        elif state in (AvatarState.LISTENING, AvatarState.SPEAKING):
            self._gaze_target = (0.0, 0.0)
        self._next_saccade = t + float(self._rng.uniform(0.6, 1.6))
        if self._next_blink - t > 0.6 and self._rng.random() < 0.5:
            self._next_blink = t + 0.15  # people often blink when they change activity

    def _blink(self, t: float, state: AvatarState) -> float:
        if t >= self._next_blink:
            self._blink_start = t
            mean = 4.5 if state is AvatarState.LISTENING else 3.6
            gap = float(self._rng.gamma(4.0, mean / 4.0))
            self._next_blink = t + (0.35 if self._rng.random() < 0.1 else max(0.9, gap))
        u = t - self._blink_start
        if u < _BLINK_CLOSE_S:
            return u / _BLINK_CLOSE_S
        if u < _BLINK_CLOSE_S + _BLINK_HOLD_S:
            return 1.0
        u -= _BLINK_CLOSE_S + _BLINK_HOLD_S
        return max(0.0, 1.0 - u / _BLINK_OPEN_S)

    def _gaze(self, t: float, state: AvatarState, dt: float) -> None:
        m = self.motion
        if t >= self._next_saccade:
            if state is AvatarState.THINKING:
                jitter = self._rng.normal(0, 0.08, size=2)
                self._gaze_target = (0.6 * self._think_side + jitter[0], -0.75 + jitter[1])
                self._next_saccade = t + float(self._rng.uniform(0.8, 2.0))
            elif state is AvatarState.IDLE:
                g = self._rng.normal(0, 0.22, size=2)
                self._gaze_target = (float(g[0]), float(g[1]) * 0.5)
                self._next_saccade = t + float(self._rng.uniform(0.8, 3.0))
            else:
                g = self._rng.normal(0, 0.06 if state is AvatarState.LISTENING else 0.12, size=2)
                self._gaze_target = (float(g[0]), float(g[1]) * 0.5)
                self._next_saccade = t + float(self._rng.uniform(1.0, 2.5))
        k = 1.0 - math.exp(-dt / 0.04)
        m.gaze_x += (self._gaze_target[0] - m.gaze_x) * k
        m.gaze_y += (self._gaze_target[1] - m.gaze_y) * k

    def _head(self, t: float, state: AvatarState, dt: float, speech_level: float) -> None:
        m, p = self.motion, self._phases
        m.breath = math.sin(2 * math.pi * t / 4.2 + p[0])
        sway = 0.6 * math.sin(2 * math.pi * t / 7.3 + p[1]) + 0.3 * math.sin(2 * math.pi * t / 3.1 + p[2])
        tilt, dy = sway, 0.0
        if state is AvatarState.LISTENING:
            tilt, dy = 3.0 + 0.3 * sway, 1.0
        elif state is AvatarState.THINKING:
            tilt, dy = -2.0 * self._think_side + 0.3 * sway, -2.0
        elif state is AvatarState.SPEAKING:
            tilt = 0.8 * sway + 0.8 * math.sin(2 * math.pi * t / 1.7 + p[3])
            dy = 2.0 * speech_level
        k = 1.0 - math.exp(-dt / 0.3)
        m.tilt_deg += (tilt - m.tilt_deg) * k
        m.head_dy += (dy + 1.2 * m.breath - m.head_dy) * (1.0 - math.exp(-dt / 0.12))
        m.head_dx = 1.5 * math.sin(2 * math.pi * t / 9.1 + p[4])
