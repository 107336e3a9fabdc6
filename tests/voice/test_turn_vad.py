"""Turn VAD on real speech (Piper, Silero): onsets, pauses, resumptions; early transcripts (Whisper)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.tests.utils import run_test

from server.speech_models import resolve_whisper_model
from server.voice.stt import LocalWhisperSTT, WhisperLoad, load_whisper
from server.voice.turn_vad import (
    CustomerPausedFrame,
    CustomerResumedFrame,
    ObservedSileroVAD,
    SpeechOnsetCancelledFrame,
    SpeechOnsetFrame,
    TurnVAD,
)

RATE = 16_000
Audio = npt.NDArray[np.int16]
MARKERS = (
    SpeechOnsetFrame,
    SpeechOnsetCancelledFrame,
    VADUserStartedSpeakingFrame,
    CustomerPausedFrame,
    CustomerResumedFrame,
    VADUserStoppedSpeakingFrame,
)


def _silence(seconds: float) -> Audio:
    rng = np.random.default_rng(7)
    return (rng.standard_normal(int(RATE * seconds)) * 8).astype(np.int16)  # a quiet room, not zeros


def _said(speak: Any, text: str) -> Audio:
    """Piper speech cut to the voice (its own lead-in and trailing silence removed)."""
    audio: Audio = speak(text, RATE)
    loud = np.flatnonzero(np.abs(audio) > 300)
    return audio[loud[0] : loud[-1] + 1]


def _frames(audio: Audio) -> list[Frame]:
    step = RATE // 50  # 20 ms, as the transports deliver them
    return [
        InputAudioRawFrame(audio=audio[i : i + step].tobytes(), sample_rate=RATE, num_channels=1)
        for i in range(0, len(audio) - step + 1, step)
    ]


def _vad() -> TurnVAD:
    return TurnVAD(ObservedSileroVAD(params=VADParams(start_secs=0.15, stop_secs=0.3)), pause_s=0.1)


async def _run(processors: Sequence[FrameProcessor], audio: Audio) -> list[Frame]:
    from pipecat.pipeline.pipeline import Pipeline

    down, _ = await run_test(
        Pipeline(list(processors)),
        frames_to_send=_frames(audio),
        pipeline_params=PipelineParams(audio_in_sample_rate=RATE),
    )
    return list(down)


def _markers(frames: list[Frame]) -> list[type]:
    return [type(f) for f in frames if isinstance(f, MARKERS)]


async def test_a_short_pause_pauses_and_resumes_one_turn(speak: Any) -> None:
    audio = np.concatenate(
        [
            _silence(0.5),
            _said(speak, "I lost my card"),
            _silence(0.2),
            _said(speak, "yesterday"),
            _silence(1.0),
        ]
    )
    assert _markers(await _run([_vad()], audio)) == [
        SpeechOnsetFrame,
        VADUserStartedSpeakingFrame,
        CustomerPausedFrame,  # 0.1 s into the 0.2 s gap
        CustomerResumedFrame,
        CustomerPausedFrame,
        VADUserStoppedSpeakingFrame,
    ]


async def test_a_click_is_an_onset_that_is_cancelled(speak: Any) -> None:
    blip = _said(speak, "Hi")[: int(0.07 * RATE)]  # 70 ms of voice: shorter than start_secs
    markers = _markers(await _run([_vad()], np.concatenate([_silence(0.5), blip, _silence(0.8)])))
    assert markers == [SpeechOnsetFrame, SpeechOnsetCancelledFrame]


@pytest.fixture(scope="module")
def whisper() -> Any:
    return load_whisper(resolve_whisper_model("package:whisper-base", Path("var/models").resolve()))


async def test_the_transcript_started_at_the_pause_is_the_turns(whisper: Any, speak: Any) -> None:
    stt = LocalWhisperSTT(whisper, hotwords=["card"])
    audio = np.concatenate([_silence(0.5), speak("How do I change my PIN?", RATE), _silence(1.0)])
    frames = await _run([_vad(), stt], audio)
    texts = [f.text for f in frames if isinstance(f, TranscriptionFrame)]
    assert len(texts) == 1 and "change my" in texts[0].lower()
    assert stt.early_hits == 1


async def test_speech_after_the_pause_drops_the_early_transcript(whisper: Any, speak: Any) -> None:
    stt = LocalWhisperSTT(whisper, hotwords=["card"])
    audio = np.concatenate(
        [
            _silence(0.5),
            _said(speak, "I want to transfer money"),
            _silence(0.2),
            _said(speak, "to my sister"),
            _silence(1.0),
        ]
    )
    frames = await _run([_vad(), stt], audio)
    texts = [f.text for f in frames if isinstance(f, TranscriptionFrame)]
    assert len(texts) == 1 and "sister" in texts[0].lower()  # the whole turn, not its first half
    assert stt.early_hits == 1  # the second pause's transcript, started after "sister"


async def test_no_early_transcript_while_the_shared_model_is_busy(whisper: Any, speak: Any) -> None:
    load = WhisperLoad()
    stt = LocalWhisperSTT(whisper, hotwords=["card"], load=load)
    load.started()  # another session's transcription is running on the model
    audio = np.concatenate([_silence(0.5), speak("How do I change my PIN?", RATE), _silence(1.0)])
    frames = await _run([_vad(), stt], audio)
    load.finished()
    texts = [f.text for f in frames if isinstance(f, TranscriptionFrame)]
    assert len(texts) == 1 and "change my" in texts[0].lower()  # transcribed once the turn ended
    assert stt.early_hits == 0 and not load.busy


async def test_a_cancelled_transcription_counts_until_its_thread_ends(whisper: Any, speak: Any) -> None:
    load = WhisperLoad()
    ended = threading.Event()
    counted = load.finished

    def finished() -> None:
        counted()
        ended.set()

    load.finished = finished  # type: ignore[method-assign]
    stt = LocalWhisperSTT(whisper, hotwords=["card"], load=load)
    gate = threading.Event()  # the model starts only when the test has cancelled the task
    real = stt._whisper.transcribe

    def gated(samples: npt.NDArray[np.float32]) -> str:
        gate.wait(120)
        return real(samples)

    stt._whisper.transcribe = gated  # type: ignore[method-assign]
    pcm = speak("How do I change my PIN?", RATE).tobytes()
    task = asyncio.create_task(stt._transcribe(pcm))
    await asyncio.sleep(0)
    task.cancel()
    assert load.busy  # CTranslate2 cannot be stopped: the model is still working
    gate.set()
    assert await asyncio.to_thread(ended.wait, 120)  # ... until its thread ends (slow on a loaded CPU)
    assert not load.busy


async def test_whisper_hears_only_the_configured_lead_in_and_tail(whisper: Any, speak: Any) -> None:
    stt = LocalWhisperSTT(whisper, hotwords=["card"], preroll_secs=0.3, trailing_silence_secs=0.2)
    heard: list[float] = []
    real = stt._whisper.transcribe

    def recording(samples: npt.NDArray[np.float32]) -> str:  # the real model, lengths noted
        heard.append(len(samples) / RATE)
        return real(samples)

    stt._whisper.transcribe = recording  # type: ignore[method-assign]
    speech = speak("How do I change my PIN?", RATE)
    frames = await _run([_vad(), stt], np.concatenate([_silence(1.5), speech, _silence(1.0)]))
    texts = [f.text for f in frames if isinstance(f, TranscriptionFrame)]
    assert len(texts) == 1 and "change my" in texts[0].lower()
    # lead-in 0.3 + the speech + at most the 0.3 s stop silence + 0.2 s tail (pipecat's own: 1.0 and 0.5)
    assert heard and max(heard) <= 0.3 + len(speech) / RATE + 0.3 + 0.2 + 0.05
