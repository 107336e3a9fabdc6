"""The avatar as a pipeline stage: TTS audio + visemes in, paced video + audio out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputImageRawFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from avatar.base import AvatarRenderer
from avatar.states import AvatarState
from server.voice.barge_in import HoldSpeechFrame, ReleaseSpeechFrame
from server.voice.marks import Marks
from server.voice.tts import VisemeAudioFrame

log = logging.getLogger(__name__)


class QueuedSpeech(Protocol):
    """Reply audio already handed on downstream (the WebRTC track's queue)."""

    def hold(self) -> None: ...

    def release(self) -> None: ...

    def clear(self) -> None: ...


def _nothing_queued() -> QueuedSpeech | None:
    return None


class AvatarStage(FrameProcessor):
    """Owns one renderer and its frame loop; the loop is the only source of bot audio.

    TTS audio is not forwarded as it comes: it is pushed into the renderer, and
    every rendered frame that speaks goes out with exactly the audio it shows, so
    the mouth and the sound cannot drift apart. Idle frames carry no audio at all:
    the transport fills its own silence, so a reply never queues behind silence
    pushed earlier (an output that ran slow for a while starts every reply with
    an empty queue). The TTS stop frame is held until the renderer has played the
    utterance, so it reaches the transport right behind the last audio and marks
    the end of the bot's speech there. An interruption clears the renderer, which
    is idle and silent on the next frame; a hold (the customer may be starting to
    speak) keeps the speech waiting in the renderer until it is released. Hold,
    release and interruption also reach ``queued`` (the transport's queue of audio
    already sent on, when it has one), so the customer hears the stop at once. If
    rendering fails the stage degrades to audio only and says so once.
    """

    def __init__(
        self,
        renderer: AvatarRenderer,
        marks: Marks,
        *,
        video: bool = True,
        queued: Callable[[], QueuedSpeech | None] = _nothing_queued,
    ) -> None:
        super().__init__(name="AvatarStage")
        self._marks = marks
        self._queued = queued
        self._renderer = renderer
        self._video = video
        self._loop_task: asyncio.Task[None] | None = None
        self._size = (renderer.size, renderer.size)
        self._passthrough = False
        self._stop_pending: TTSStoppedFrame | None = None
        self.frames_sent = 0

    @property
    def renderer(self) -> AvatarRenderer:
        return self._renderer

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self._loop_task = self.create_task(self._frame_loop(), name="avatar-frames")
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._stop()
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            for speech in self._speech_queues():
                speech.clear()
            self._stop_pending = None
            await self.push_frame(frame, direction)
        elif isinstance(frame, HoldSpeechFrame):
            for speech in self._speech_queues():
                speech.hold()
            await self.push_frame(frame, direction)
        elif isinstance(frame, ReleaseSpeechFrame):
            for speech in self._speech_queues():
                speech.release()
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame) and self._passthrough:
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame):
            self._marks.mark("tts_audio")
            visemes = frame.visemes if isinstance(frame, VisemeAudioFrame) else None
            self._renderer.push_audio(frame.audio, visemes, sample_rate=frame.sample_rate)
        elif isinstance(frame, TTSStoppedFrame) and not self._passthrough:
            self._renderer.end_of_speech()
            if self._renderer.playback_position().finished:
                await self.push_frame(frame, direction)
            else:
                self._stop_pending = frame
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._set_state(AvatarState.LISTENING)
            await self.push_frame(frame, direction)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._set_state(AvatarState.IDLE)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    def _speech_queues(self) -> list[QueuedSpeech]:
        """Where reply speech waits: the renderer, then the transport's queue if it has one."""
        queued = self._queued()
        return [self._renderer] if queued is None else [self._renderer, queued]

    def _set_state(self, state: AvatarState) -> None:
        if self._renderer.state is not AvatarState.SPEAKING:
            self._renderer.set_state(state)

    def think(self) -> None:
        """The customer finished a turn and the teller is working on the reply."""
        self._set_state(AvatarState.THINKING)

    async def _frame_loop(self) -> None:
        rate = self._renderer.sample_rate
        video = self._video
        speaking = False
        try:
            async for frame in self._renderer.frames():
                if video:
                    try:
                        image = frame.image.tobytes()
                    except Exception:
                        log.exception("avatar rendering failed; continuing with audio only")
                        video = False
                    else:
                        await self.push_frame(OutputImageRawFrame(image=image, size=self._size, format="RGB"))
                        self.frames_sent += 1
                if frame.audio.size:
                    if not speaking:
                        speaking = True
                        self._marks.mark("first_reply_frame")
                    await self.push_frame(
                        TTSAudioRawFrame(audio=frame.audio.tobytes(), sample_rate=rate, num_channels=1)
                    )
                    continue
                speaking = False
                if self._stop_pending is not None and self._renderer.playback_position().finished:
                    stop, self._stop_pending = self._stop_pending, None
                    await self.push_frame(stop)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("avatar stopped; the session continues with audio only")
            self._passthrough = True
            if self._stop_pending is not None:
                stop, self._stop_pending = self._stop_pending, None
                await self.push_frame(stop)

    async def _stop(self) -> None:
        if self._loop_task is not None:
            await self.cancel_task(self._loop_task)
            self._loop_task = None
        await self._renderer.aclose()
