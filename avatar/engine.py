"""PacedRenderer: the shared machinery behind every renderer (audio, visemes, pacing, states)."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from avatar.audio_buffer import AudioFrameBuffer, PlaybackPosition, as_pcm16
from avatar.audio_mouth import AudioMouth
from avatar.base import AudioInput, AvatarFrame, AvatarRenderer, Image
from avatar.clock import FrameClock
from avatar.errors import AudioFormatError, AvatarError
from avatar.motion import Animator, Motion
from avatar.states import AvatarState, Expression, StateMachine
from avatar.timeline import MouthTrack, VisemeTimeline
from avatar.visemes import MOUTH_FIELDS, OPEN

F64 = npt.NDArray[np.float64]
AUDIO_GAIN_FLOOR = 0.2
#: Loudness span (dB below the running peak) over which the jaw goes from
#: ``AUDIO_GAIN_FLOOR`` to fully open: within a vowel the jaw follows the syllable's
#: loudness, so the widest opening falls where the sound is loudest.
JAW_RANGE_DB = 20.0
#: Speakers shape the mouth a little before the sound is heard; the frame shown
#: with audio ``[t0, t1)`` shows the articulation of ``[t0 + lead, t1 + lead)``.
ANTICIPATION_S = 0.02


@dataclass
class FrameContext:
    """Everything a renderer needs to draw one frame."""

    index: int
    t: float
    mouth: F64
    motion: Motion
    state: AvatarState
    speaking: bool
    audio: npt.NDArray[np.int16]


class PacedRenderer(AvatarRenderer):
    """Implements the contract; subclasses only draw (``_draw``) into a preallocated image."""

    def __init__(
        self,
        *,
        size: int,
        fps: int,
        sample_rate: int,
        seed: int | None = None,
        clock: FrameClock | None = None,
        render_in_thread: bool = False,
        max_lag_frames: int = 5,
        idle_frame_stride: int = 1,
    ) -> None:
        if idle_frame_stride < 1:
            raise AvatarError(f"idle_frame_stride must be >= 1, not {idle_frame_stride}")
        self.size, self.fps, self.sample_rate = size, fps, sample_rate
        self.idle_frame_stride = idle_frame_stride
        self.clock = clock or FrameClock(fps, max_lag_frames=max_lag_frames)
        self.render_in_thread = render_in_thread
        self._machine = StateMachine()
        self._expression = Expression.NEUTRAL
        self._buffer = AudioFrameBuffer(sample_rate, fps)
        self._track = MouthTrack()
        self._audio_ranges: list[tuple[int, int]] = []
        self._audio_mouth = AudioMouth(sample_rate, self._buffer.max_frame_samples)
        self._animator = Animator(fps, seed)
        self._images: list[Image] = [np.zeros((size, size, 3), np.uint8) for _ in range(self.RING)]
        self._audio: list[npt.NDArray[np.int16]] = [
            np.zeros(self._buffer.max_frame_samples, np.int16) for _ in range(self.RING)
        ]
        self._mouth = np.zeros(len(MOUTH_FIELDS))
        self._scratch = np.zeros((2, len(MOUTH_FIELDS)))
        self._speech_level = 0.0
        self._iterating = False
        self._was_speaking = False
        self._held = False

    # -- contract ---------------------------------------------------------

    @property
    def state(self) -> AvatarState:
        """The current state."""
        return self._machine.state

    @property
    def expression(self) -> Expression:
        """The current expression."""
        return self._expression

    def push_audio(
        self, chunk: AudioInput, visemes: VisemeTimeline | None = None, *, sample_rate: int | None = None
    ) -> None:
        """Queue speech (PCM16 mono); see ``AvatarRenderer.push_audio``."""
        self._check_open()
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise AudioFormatError(f"audio at {sample_rate} Hz, renderer expects {self.sample_rate} Hz")
        pcm = as_pcm16(chunk)
        fresh = not self._buffer.active
        offset = self._buffer.push(pcm)
        if fresh:
            self._track.clear()
            self._audio_ranges.clear()
            self._audio_mouth.reset()
        if visemes is not None and len(visemes):
            self._track.append(visemes, offset / self.sample_rate)
        elif pcm.size:
            self._audio_ranges.append((offset, offset + pcm.size))
        if self._machine.state is not AvatarState.SPEAKING:
            self._machine.move(AvatarState.SPEAKING)

    def end_of_speech(self) -> None:
        """See ``AvatarRenderer.end_of_speech``."""
        self._buffer.end()

    def hold(self) -> None:
        """See ``AvatarRenderer.hold``."""
        self._held = True

    def release(self) -> None:
        """See ``AvatarRenderer.release``."""
        self._held = False

    @property
    def held(self) -> bool:
        """True between ``hold`` and ``release`` (or ``clear``)."""
        return self._held

    def clear(self) -> None:
        """See ``AvatarRenderer.clear``."""
        self._held = False
        self._buffer.clear()
        self._track.clear()
        self._audio_ranges.clear()
        self._mouth.fill(0.0)
        self._speech_level = 0.0
        if not self._machine.closed:
            self._machine.move(AvatarState.IDLE)

    def set_state(self, state: AvatarState) -> None:
        """See ``AvatarRenderer.set_state``; ``CLOSED`` is reached through ``aclose``."""
        if state is AvatarState.CLOSED:
            raise AvatarError("use aclose() to close a renderer")
        self._machine.move(state)

    def set_expression(self, expression: Expression) -> None:
        """See ``AvatarRenderer.set_expression``."""
        self._check_open()
        self._expression = Expression(expression)

    def playback_position(self) -> PlaybackPosition:
        """See ``AvatarRenderer.playback_position``."""
        return self._buffer.position()

    async def frames(self) -> AsyncIterator[AvatarFrame]:
        """Frames at ``fps`` paced by ``clock`` until ``aclose()``; while the avatar rests
        (no speech queued or just played) only every ``idle_frame_stride``-th frame index."""
        if self._iterating:
            raise AvatarError("frames() already has a consumer")
        self._iterating = True
        try:
            n = 0
            while not self._machine.closed:
                await self.clock.wait_for(n)
                if self._machine.closed:
                    break
                if n % self.idle_frame_stride == 0 or not self._resting():
                    yield await self.next_frame(n)
                n += 1
        finally:
            self._iterating = False

    async def next_frame(self, index: int) -> AvatarFrame:
        """Advance the audio and animation by one frame and draw it (no pacing)."""
        frame, ctx, image = self._advance(index)
        if self.render_in_thread:
            await asyncio.to_thread(self._draw, ctx, image)
        else:
            self._draw(ctx, image)
        return frame

    async def aclose(self) -> None:
        """See ``AvatarRenderer.aclose``."""
        if not self._machine.closed:
            self._buffer.clear()
            self._machine.move(AvatarState.CLOSED)
            self._release()

    # -- subclass hooks ---------------------------------------------------

    @abstractmethod
    def _draw(self, ctx: FrameContext, out: Image) -> None:
        """Draw frame ``ctx`` into ``out`` (H, W, 3) RGB; must not allocate full images."""

    def _release(self) -> None:
        """Free model sessions or other resources (optional)."""

    # -- internals --------------------------------------------------------

    def _resting(self) -> bool:
        return not self._buffer.active and not self._was_speaking

    def _check_open(self) -> None:
        if self._machine.closed:
            raise AvatarError("renderer is closed")

    def _advance(self, index: int) -> tuple[AvatarFrame, FrameContext, Image]:
        slot = index % self.RING
        image, audio_buf = self._images[slot], self._audio[slot]
        speaking = self._buffer.active
        audio = audio_buf[:0]
        if speaking and self._held:
            self._mouth.fill(0.0)  # the speech waits in the buffer; the state stays SPEAKING
            speaking = False
        elif speaking:
            start = self._buffer.played_samples
            n = self._buffer.take(audio_buf)
            audio = audio_buf[:n]
            self._speech_mouth(start, n, audio)
            self._was_speaking = True
        else:
            self._mouth.fill(0.0)
            if self._was_speaking and self._machine.state is AvatarState.SPEAKING:
                self._machine.move(AvatarState.IDLE)
            self._was_speaking = False
        self._speech_level += (float(self._mouth[OPEN]) - self._speech_level) * 0.3
        state = self._machine.state
        t = index / self.fps
        motion = self._animator.step(t, state, self._expression, self._speech_level)
        ctx = FrameContext(index, t, self._mouth, motion, state, speaking, audio)
        frame = AvatarFrame(
            index=index,
            pts=t,
            image=image,
            audio=audio,
            state=state,
            speaking=speaking,
            mouth_open=float(self._mouth[OPEN]),
            blink=motion.blink,
        )
        return frame, ctx, image

    def _speech_mouth(self, start: int, n: int, audio: npt.NDArray[np.int16]) -> None:
        mid = start + n // 2
        if any(a <= mid < b for a, b in self._audio_ranges):
            self._audio_mouth.shape(audio, self._mouth)
            return
        t0 = start / self.sample_rate + ANTICIPATION_S
        t1 = (start + n) / self.sample_rate + ANTICIPATION_S
        self._track.sample_frame(t0, t1, self._mouth, self._scratch)
        # The jaw opens wider on louder frames: visemes give the shape, the audio
        # actually played with this frame scales the opening.
        self._mouth[OPEN] *= AUDIO_GAIN_FLOOR + (1.0 - AUDIO_GAIN_FLOOR) * self._audio_mouth.level(
            audio, JAW_RANGE_DB
        )
