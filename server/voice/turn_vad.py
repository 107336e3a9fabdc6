"""Voice activity with the moments in between: speech may be starting, the customer paused.

pipecat's VAD reports only confirmed starts and stops (``VADUserStartedSpeakingFrame``
after ``start_secs`` of speech, ``VADUserStoppedSpeakingFrame`` after ``stop_secs`` of
silence). Two decisions are better taken earlier, on the way to those:

- ``SpeechOnsetFrame``: the first window (32 ms) Silero finds voiced while the
  customer was quiet. pipecat's start also waits for a smoothed volume to rise
  (about 100 ms more) and then ``start_secs``; the onset does not, so the avatar
  holds its speech at once and a barge-in is heard within tens of milliseconds.
  ``SpeechOnsetCancelledFrame`` follows when it was only a noise (``ONSET_QUIET_S``
  without a voiced window, or no confirmed start within ``ONSET_MAX_S``): the
  avatar goes on where it stopped. Otherwise the pipecat start frame follows.
- ``CustomerPausedFrame``: ``pause_s`` of silence after speech. Transcription starts
  then, while VAD waits out the rest of ``stop_secs``; ``CustomerResumedFrame``
  follows when the customer goes on speaking (the early transcript is dropped).

All four are system frames: they overtake queued data frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import Frame, InputAudioRawFrame, SystemFrame
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection


@dataclass
class SpeechOnsetFrame(SystemFrame):
    """The customer may have started speaking (not confirmed yet)."""


@dataclass
class SpeechOnsetCancelledFrame(SystemFrame):
    """The onset was not speech after all."""


@dataclass
class CustomerPausedFrame(SystemFrame):
    """The customer has been silent for ``pause_s`` after speaking; the turn may end."""


@dataclass
class CustomerResumedFrame(SystemFrame):
    """The customer spoke again after a ``CustomerPausedFrame``: the turn goes on."""


ONSET_QUIET_S = 0.1  # an onset without a voiced window for this long was a noise
ONSET_MAX_S = 0.6  # ... as is one that pipecat has not confirmed as speech by then


class ObservedSileroVAD(SileroVADAnalyzer):
    """Silero VAD that keeps what its last analysis saw: the raw state, transitions
    included, and whether any window was voiced (confidence alone, volume aside).

    It analyses on the event loop: a 20 ms frame costs about 0.3 ms of Silero,
    less than pipecat's hop to a worker thread and back, whose waits (behind the
    GIL of a busy process) let the microphone queue up behind the VAD.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw_state = VADState.QUIET
        self.voiced = False
        self._voiced_windows = 0

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = super().voice_confidence(buffer)
        if float(np.max(confidence)) >= self.params.confidence:
            self._voiced_windows += 1
        return confidence

    async def analyze_audio(self, buffer: bytes) -> VADState:
        self._voiced_windows = 0
        self.raw_state = self._run_analyzer(buffer)  # pipecat's own analysis, without the thread hop
        self.voiced = self._voiced_windows > 0
        return self.raw_state


class TurnVAD(VADProcessor):
    """pipecat's ``VADProcessor`` that also pushes onset and pause frames (module docstring)."""

    def __init__(self, analyzer: ObservedSileroVAD, *, pause_s: float, **kwargs: Any) -> None:
        super().__init__(vad_analyzer=analyzer, **kwargs)
        self._analyzer = analyzer
        self._pause_s = pause_s
        self._state = VADState.QUIET
        self._silent_s = 0.0  # silence since the customer stopped speaking (STOPPING)
        self._paused = False
        self._onset: _Onset | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self._observe(frame)

    async def _observe(self, frame: InputAudioRawFrame) -> None:
        before, now = self._state, self._analyzer.raw_state
        self._state = now
        seconds = len(frame.audio) / (2 * frame.num_channels * frame.sample_rate)
        await self._watch_onset(now, seconds)
        if now is VADState.STOPPING:
            if before is not VADState.STOPPING:
                self._silent_s = 0.0
            self._silent_s += seconds
            if not self._paused and self._silent_s >= self._pause_s:
                self._paused = True
                await self.broadcast_frame(CustomerPausedFrame)
        elif self._paused:
            self._paused = False
            if now is VADState.SPEAKING:
                await self.broadcast_frame(CustomerResumedFrame)

    async def _watch_onset(self, now: VADState, seconds: float) -> None:
        voiced = self._analyzer.voiced
        onset = self._onset
        if onset is None:
            if voiced and now in (VADState.QUIET, VADState.STARTING):
                self._onset = _Onset()
                await self.broadcast_frame(SpeechOnsetFrame)
            return
        if now in (VADState.SPEAKING, VADState.STOPPING):
            self._onset = None  # confirmed: pipecat's start frame is on its way
            return
        onset.age_s += seconds
        onset.quiet_s = 0.0 if voiced else onset.quiet_s + seconds
        if onset.quiet_s >= ONSET_QUIET_S or onset.age_s >= ONSET_MAX_S:
            self._onset = None
            await self.broadcast_frame(SpeechOnsetCancelledFrame)


@dataclass
class _Onset:
    age_s: float = 0.0
    quiet_s: float = 0.0
