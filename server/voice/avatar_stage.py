"""The avatar as a pipeline stage: TTS audio + visemes in, paced video + audio out."""

from __future__ import annotations

import asyncio
import logging

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
from server.voice.frames import (
    BotThinkingFrame,
    HoldSpeechFrame,
    PlaybackPositionFrame,
    PlaybackPositionRequestFrame,
    ReleaseSpeechFrame,
    ReplyEndFrame,
    ReplyPlayedFrame,
)
from server.voice.marks import Marks
from server.voice.tts import VisemeAudioFrame

log = logging.getLogger(__name__)


class AvatarStage(FrameProcessor):
    """Owns one renderer and its frame loop; the loop is the only source of bot audio.

    TTS audio is not forwarded as it comes: it is pushed into the renderer, and
    every rendered frame that speaks goes out with exactly the audio it shows, so
    the mouth and the sound cannot drift apart. Idle frames carry no audio at all:
    the transport fills its own silence, so a reply never queues behind silence
    pushed earlier (an output that ran slow for a while starts every reply with
    an empty queue). The TTS stop frame is held until the renderer has played the
    utterance, so it reaches the transport right behind the last audio and marks
    the end of the bot's speech there. A reply's ``ReplyEndFrame`` (behind its last stop
    frame) is held the same way, then answered upstream with a ``ReplyPlayedFrame``: the
    reply was heard to its end. An interruption clears the renderer (and drops both), which
    is idle and silent on the next frame; a hold (the customer may be starting to
    speak) keeps the speech waiting in the renderer until it is released. Hold,
    release and interruption go on downstream, to the transport's queue of audio
    already sent on (``server.voice.transport.rtc_output``). The stage answers a
    ``PlaybackPositionRequestFrame`` upstream with how much of the utterance was
    heard, and thinks at a ``BotThinkingFrame``. If rendering fails the stage
    degrades to audio only and says so once.
    """

    def __init__(self, renderer: AvatarRenderer, marks: Marks, *, video: bool = True) -> None:
        super().__init__(name="AvatarStage")
        self._marks = marks
        self._renderer = renderer
        self._video = video
        self._loop_task: asyncio.Task[None] | None = None
        self._size = (renderer.size, renderer.size)
        self._passthrough = False
        self._stop_pending: TTSStoppedFrame | None = None
        self._replies_pending: list[int] = []  # seqs of replies whose last audio is still to play
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
            self._renderer.clear()
            self._stop_pending = None
            self._replies_pending.clear()
            await self.push_frame(frame, direction)
        elif isinstance(frame, HoldSpeechFrame):
            self._renderer.hold()
            await self.push_frame(frame, direction)
        elif isinstance(frame, ReleaseSpeechFrame):
            self._renderer.release()
            await self.push_frame(frame, direction)
        elif isinstance(frame, PlaybackPositionRequestFrame):
            heard = self._renderer.playback_position().fraction
            await self.push_frame(PlaybackPositionFrame(fraction=heard), FrameDirection.UPSTREAM)
        elif isinstance(frame, BotThinkingFrame):
            self._set_state(AvatarState.THINKING)
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
        elif isinstance(frame, ReplyEndFrame):
            self._replies_pending.append(frame.seq)
            if self._passthrough or self._renderer.playback_position().finished:
                await self._release_pending()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._set_state(AvatarState.LISTENING)
            await self.push_frame(frame, direction)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._set_state(AvatarState.IDLE)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    def _set_state(self, state: AvatarState) -> None:
        if self._renderer.state is not AvatarState.SPEAKING:
            self._renderer.set_state(state)

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
                if self._renderer.playback_position().finished:
                    await self._release_pending()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("avatar stopped; the session continues with audio only")
            self._passthrough = True
            await self._release_pending()

    async def _release_pending(self) -> None:
        """The utterance played: its held stop frame goes on, and the replies it ended were heard."""
        if self._stop_pending is not None:
            stop, self._stop_pending = self._stop_pending, None
            await self.push_frame(stop)
        while self._replies_pending:
            seq = self._replies_pending.pop(0)
            await self.push_frame(ReplyPlayedFrame(seq=seq), FrameDirection.UPSTREAM)

    async def _stop(self) -> None:
        if self._loop_task is not None:
            await self.cancel_task(self._loop_task)
            self._loop_task = None
        await self._renderer.aclose()
