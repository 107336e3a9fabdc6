"""The renderer contract every avatar implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from avatar.audio_buffer import PlaybackPosition
from avatar.states import AvatarState, Expression
from avatar.timeline import VisemeTimeline

Image = npt.NDArray[np.uint8]
AudioInput = bytes | bytearray | memoryview | npt.NDArray[np.generic]


@dataclass(frozen=True)
class AvatarFrame:
    """One video frame and the audio that plays while it is shown.

    ``image`` is RGB uint8 (H, W, 3) and ``audio`` mono PCM16 (empty when silent).
    Both are views into the renderer's preallocated ring of buffers and stay valid
    for ``AvatarRenderer.RING`` frames: copy them (``.tobytes()``) to keep them.
    ``pts`` is seconds since the stream started (``index / fps``).
    """

    index: int
    pts: float
    image: Image
    audio: npt.NDArray[np.int16]
    state: AvatarState
    speaking: bool
    mouth_open: float
    blink: float


class AvatarRenderer(ABC):
    """A lip-synced avatar that turns speech into paced video frames.

    Push speech with ``push_audio`` (PCM16 mono at ``sample_rate`` plus an optional
    viseme timeline for that chunk, times relative to the chunk's start), mark the
    end with ``end_of_speech``, interrupt with ``clear``. Iterate ``frames()`` to get
    frames at ``fps``, paced by timestamps; each frame carries its slice of audio.
    """

    RING = 3

    size: int
    fps: int
    sample_rate: int

    @abstractmethod
    def push_audio(
        self, chunk: AudioInput, visemes: VisemeTimeline | None = None, *, sample_rate: int | None = None
    ) -> None:
        """Queue speech; without ``visemes`` the mouth follows the audio itself."""

    @abstractmethod
    def end_of_speech(self) -> None:
        """No more audio for this utterance; return to idle once it has played."""

    @abstractmethod
    def clear(self) -> None:
        """Barge-in: drop unplayed speech; the next frame is idle with a closed mouth."""

    @abstractmethod
    def hold(self) -> None:
        """Pause speech now (the customer may be starting to speak): the next frames
        carry no audio and a closed mouth; the unplayed speech waits. ``clear`` or
        ``release`` ends the hold."""

    @abstractmethod
    def release(self) -> None:
        """End a ``hold``: speech goes on from where it paused."""

    @abstractmethod
    def set_state(self, state: AvatarState) -> None:
        """Switch pose and behaviour; raises ``IllegalTransitionError`` when not allowed."""

    @abstractmethod
    def set_expression(self, expression: Expression) -> None:
        """Blend towards an expression over a few frames."""

    @abstractmethod
    def playback_position(self) -> PlaybackPosition:
        """How much of the current (or last) utterance was actually shown."""

    @property
    @abstractmethod
    def state(self) -> AvatarState:
        """The current state."""

    @abstractmethod
    def frames(self) -> AsyncIterator[AvatarFrame]:
        """Frames at ``fps`` until ``aclose()``; only one consumer at a time."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop producing frames and release resources; the renderer is then CLOSED."""
