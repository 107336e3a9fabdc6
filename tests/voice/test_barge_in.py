"""Barge-in policy: hold at a speech onset while the bot speaks, interrupt on speech, release on noise."""

from __future__ import annotations

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.tests.utils import run_test

from server.voice.barge_in import BargeIn
from server.voice.frames import HoldSpeechFrame, ReleaseSpeechFrame
from server.voice.marks import Marks
from server.voice.turn_vad import SpeechOnsetCancelledFrame, SpeechOnsetFrame

POLICY = (HoldSpeechFrame, ReleaseSpeechFrame, InterruptionFrame)


async def _policy(frames: list[Frame]) -> tuple[BargeIn, list[type]]:
    barge_in = BargeIn(Marks())
    down, _ = await run_test(barge_in, frames_to_send=frames)
    return barge_in, [type(f) for f in down if isinstance(f, POLICY)]


async def test_an_onset_over_the_bot_holds_and_speech_interrupts() -> None:
    barge_in, seen = await _policy(
        [BotStartedSpeakingFrame(), SpeechOnsetFrame(), VADUserStartedSpeakingFrame()]
    )
    assert seen == [HoldSpeechFrame, InterruptionFrame]
    assert (barge_in.holds, barge_in.interruptions) == (1, 1)


async def test_a_noise_over_the_bot_holds_then_releases() -> None:
    barge_in, seen = await _policy(
        [BotStartedSpeakingFrame(), SpeechOnsetFrame(), SpeechOnsetCancelledFrame()]
    )
    assert seen == [HoldSpeechFrame, ReleaseSpeechFrame] and barge_in.interruptions == 0


async def test_speech_while_the_bot_is_quiet_changes_nothing() -> None:
    barge_in, seen = await _policy(
        [
            SpeechOnsetFrame(),
            VADUserStartedSpeakingFrame(),
            BotStartedSpeakingFrame(),
            BotStoppedSpeakingFrame(),
            SpeechOnsetFrame(),
            SpeechOnsetCancelledFrame(),
        ]
    )
    assert seen == [] and barge_in.holds == 0


async def test_a_held_bot_is_interrupted_even_after_its_audio_stopped() -> None:
    # the hold silences the output; if the transport then reports the bot stopped, speech still cuts it
    _, seen = await _policy(
        [
            BotStartedSpeakingFrame(),
            SpeechOnsetFrame(),
            BotStoppedSpeakingFrame(),
            VADUserStartedSpeakingFrame(),
        ]
    )
    assert seen == [HoldSpeechFrame, InterruptionFrame]
