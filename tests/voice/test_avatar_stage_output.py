"""The avatar stage sends audio only while it speaks, and ends speech right behind its last audio."""

from __future__ import annotations

import numpy as np
from pipecat.frames.frames import InterruptionFrame, OutputImageRawFrame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.tests.utils import SleepFrame, run_test

from avatar.factory import create_renderer
from avatar.settings import AvatarSettings
from avatar.states import AvatarState
from server.voice.avatar_stage import AvatarStage
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
from server.voice.transport.rtc_output import PacedAudioTrack, QueuedAudioControl
from server.voice.tts import VisemeAudioFrame

RATE = 22_050


async def test_idle_frames_carry_no_audio_and_the_stop_frame_follows_the_last_audio() -> None:
    renderer = create_renderer(AvatarSettings(size=128, fps=25, sample_rate=RATE))
    marks = Marks()
    stage = AvatarStage(renderer, marks)
    tone = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 220 / RATE) * 8000).astype(np.int16)  # 0.5 s
    down, _ = await run_test(
        stage,
        frames_to_send=[
            SleepFrame(0.5),  # idle: video only
            VisemeAudioFrame(audio=tone.tobytes(), sample_rate=RATE, num_channels=1),
            TTSStoppedFrame(),
            SleepFrame(1.2),  # the speech plays out, then idle again
        ],
    )
    kinds = [type(f) for f in down]
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert sum(isinstance(f, OutputImageRawFrame) for f in down) >= 25  # ~2 s at 25 fps
    played = np.concatenate([np.frombuffer(f.audio, dtype=np.int16) for f in audio])
    # exactly the speech, its last frame padded: no silence before, between or after it
    assert 0 <= len(played) - len(tone) < RATE // 25
    assert np.array_equal(played[: len(tone)], tone) and not played[len(tone) :].any()
    first_audio = kinds.index(TTSAudioRawFrame)
    assert kinds.count(TTSStoppedFrame) == 1
    stop = kinds.index(TTSStoppedFrame)
    assert stop > max(i for i, k in enumerate(kinds) if k is TTSAudioRawFrame)
    assert first_audio > 5  # idle video frames went out before any audio
    assert len(marks.all("first_reply_frame")) == 1


async def test_a_hold_keeps_the_speech_and_its_stop_frame_until_released() -> None:
    renderer = create_renderer(AvatarSettings(size=128, fps=25, sample_rate=RATE))
    stage = AvatarStage(renderer, Marks())
    tone = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 220 / RATE) * 8000).astype(np.int16)  # 0.5 s
    down, _ = await run_test(
        stage,
        frames_to_send=[
            VisemeAudioFrame(audio=tone.tobytes(), sample_rate=RATE, num_channels=1),
            TTSStoppedFrame(),
            SleepFrame(0.2),
            HoldSpeechFrame(),
            SleepFrame(0.6),  # longer than the rest of the speech: nothing plays, nothing ends
            ReleaseSpeechFrame(),
            SleepFrame(0.8),
        ],
    )
    kinds = [type(f) for f in down]
    hold, release = kinds.index(HoldSpeechFrame), kinds.index(ReleaseSpeechFrame)
    assert TTSAudioRawFrame not in kinds[hold:release] and TTSStoppedFrame not in kinds[:release]
    assert kinds[hold:release].count(OutputImageRawFrame) >= 10  # video goes on while held
    played = np.concatenate(
        [np.frombuffer(f.audio, dtype=np.int16) for f in down if isinstance(f, TTSAudioRawFrame)]
    )
    assert np.array_equal(played[: len(tone)], tone)  # all of it, once, in order
    assert kinds.count(TTSStoppedFrame) == 1 and kinds.index(TTSStoppedFrame) > release


async def test_a_reply_is_played_once_its_last_audio_played_and_a_cut_one_never() -> None:
    renderer = create_renderer(AvatarSettings(size=128, fps=25, sample_rate=RATE))
    stage = AvatarStage(renderer, Marks())
    tone = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 220 / RATE) * 8000).astype(np.int16)  # 0.5 s
    _, up = await run_test(
        stage,
        frames_to_send=[
            VisemeAudioFrame(audio=tone.tobytes(), sample_rate=RATE, num_channels=1),
            TTSStoppedFrame(),
            ReplyEndFrame(seq=3),  # held while its audio plays
            SleepFrame(0.3),
            HoldSpeechFrame(),
            SleepFrame(0.5),  # held speech is not played speech
            ReleaseSpeechFrame(),
            SleepFrame(0.6),
            VisemeAudioFrame(audio=tone.tobytes(), sample_rate=RATE, num_channels=1),
            TTSStoppedFrame(),
            ReplyEndFrame(seq=5),
            SleepFrame(0.2),
            InterruptionFrame(),  # cut: reply 5 never played to its end
            SleepFrame(0.6),
        ],
    )
    assert [f.seq for f in up if isinstance(f, ReplyPlayedFrame)] == [3]


class _RecordingTrack(PacedAudioTrack):
    """A real WebRTC output track that also lists the barge-in calls it received."""

    def __init__(self) -> None:
        super().__init__(24_000)
        self.calls: list[str] = []

    def hold(self) -> None:
        self.calls.append("hold")
        super().hold()

    def release(self) -> None:
        self.calls.append("release")
        super().release()

    def clear(self) -> None:
        self.calls.append("clear")
        super().clear()


async def test_barge_in_also_reaches_the_audio_already_in_the_track() -> None:
    track = _RecordingTrack()
    track.add_audio_bytes(bytes(480 * 10))  # 100 ms handed on before the customer spoke
    control = QueuedAudioControl(lambda: track)  # the avatar's barge-in frames pass it to the output
    frames = [HoldSpeechFrame(), ReleaseSpeechFrame(), HoldSpeechFrame(), InterruptionFrame()]
    down, _ = await run_test(control, frames_to_send=frames)
    barge_in = (HoldSpeechFrame, ReleaseSpeechFrame, InterruptionFrame)
    assert [type(f) for f in down if isinstance(f, barge_in)] == [type(f) for f in frames]
    assert track.calls == ["hold", "release", "hold", "clear"]
    assert track.queued_ms == 0


async def test_the_stage_thinks_and_answers_how_much_of_the_speech_was_heard() -> None:
    renderer = create_renderer(AvatarSettings(size=128, fps=25, sample_rate=RATE))
    stage = AvatarStage(renderer, Marks())
    tone = (np.sin(np.arange(RATE // 2) * 2 * np.pi * 220 / RATE) * 8000).astype(np.int16)  # 0.5 s
    states: list[AvatarState] = []
    set_state = renderer.set_state

    def spy(state: AvatarState) -> None:
        states.append(state)
        set_state(state)

    renderer.set_state = spy  # type: ignore[method-assign]
    _, up = await run_test(
        stage,
        frames_to_send=[
            BotThinkingFrame(),
            SleepFrame(0.1),
            VisemeAudioFrame(audio=tone.tobytes(), sample_rate=RATE, num_channels=1),
            SleepFrame(0.2),
            HoldSpeechFrame(),  # the customer starts to talk: the position stays where it is
            PlaybackPositionRequestFrame(),
            InterruptionFrame(),
            PlaybackPositionRequestFrame(),  # a cut keeps the position of the utterance
        ],
        expected_up_frames=[PlaybackPositionFrame, PlaybackPositionFrame],
    )
    assert states[:1] == [AvatarState.THINKING]
    held, after_cut = (f.fraction for f in up if isinstance(f, PlaybackPositionFrame))
    assert 0.0 < held < 1.0 and after_cut == held
