"""eSpeak NG engine: real audio and phoneme timing; Whisper hears it; the TTS service speaks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr

from avatar.visemes import Viseme
from server.config import VoiceSettings
from server.speech_models import resolve_whisper_model
from server.voice.speech.cache import SpeechCache
from server.voice.speech.coqui import voiced_span
from server.voice.speech.engine import SpeechEngine
from server.voice.speech.espeak import EspeakError, EspeakSpeech, EspeakUnavailable
from server.voice.speech.factory import load_speech
from server.voice.speech.piper import PiperSpeech
from server.voice.stt import ShortFormWhisper, load_whisper
from server.voice.tts import AlignedTTS, VisemeAudioFrame

SENTENCE = "Your new card arrives by post within five working days."


@pytest.fixture(scope="module")
def espeak() -> EspeakSpeech:
    return EspeakSpeech("en-us", sample_rate=22_050)


def _samples(pcm: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def test_a_sentence_is_audible_speech_with_visemes_inside_it(espeak: EspeakSpeech) -> None:
    piece = espeak.synthesize_piece(SENTENCE, None)
    audio = _samples(piece.pcm)
    seconds = audio.size / espeak.sample_rate
    assert 2.0 < seconds < 5.5  # ten words at 175 words per minute
    assert float(np.sqrt(np.mean(audio**2))) > 0.03  # not silence
    timeline = piece.visemes
    assert timeline is not None and len(timeline) > 20
    assert float(timeline.starts[0]) >= 0.0 and timeline.duration <= seconds + 1e-6
    assert np.all(np.diff(timeline.starts) >= 0)
    # the timing is eSpeak's own: the mouth starts moving when the voice starts
    spoken = [s for s in timeline.segments() if s[0] is not Viseme.SIL]
    span = voiced_span(audio, espeak.sample_rate)
    assert span is not None and abs(spoken[0][1] - span[0]) < 0.06
    assert abs(spoken[-1][2] - span[1]) < 0.15
    # "by" and "post" close the lips: a PP segment where the audio has them
    assert any(v is Viseme.PP for v, _, _ in spoken)


def test_rate_speed_and_output_rate(espeak: EspeakSpeech) -> None:
    normal = espeak.synthesize_piece("Thank you for waiting.", None)
    slow = espeak.synthesize_piece("Thank you for waiting.", 1.3)
    assert len(slow.pcm) > 1.15 * len(normal.pcm)
    at_24k = EspeakSpeech("en-us", sample_rate=24_000).synthesize_piece("Thank you for waiting.", None)
    assert len(at_24k.pcm) / 2 / 24_000 == pytest.approx(len(normal.pcm) / 2 / 22_050, abs=0.01)
    assert at_24k.visemes is not None and normal.visemes is not None
    assert at_24k.visemes.duration == pytest.approx(normal.visemes.duration, abs=0.02)  # in seconds


def test_whisper_hears_the_words(espeak: EspeakSpeech) -> None:
    model_dir = resolve_whisper_model("package:whisper-base", Path("var/models").resolve())
    whisper = ShortFormWhisper(load_whisper(model_dir))
    piece = espeak.synthesize_piece(SENTENCE, None)
    speech = soxr.resample(_samples(piece.pcm), espeak.sample_rate, 16_000).astype(np.float32)
    segment = np.concatenate([np.zeros(8_000, np.float32), speech, np.zeros(8_000, np.float32)])
    heard = whisper.transcribe(segment).lower()
    for word in ("card", "post", "working", "days"):
        assert word in heard, heard


def test_missing_library_and_unknown_voice_are_clear_errors() -> None:
    with pytest.raises(EspeakUnavailable, match=r"apt-get install .*espeak-ng"):
        EspeakSpeech(library="libespeak-ng-not-here.so.1")
    with pytest.raises(EspeakError, match="no voice 'xx-nowhere'"):
        EspeakSpeech("xx-nowhere")
    with pytest.raises(ValueError, match="words per minute"):
        EspeakSpeech(rate=20)


def test_load_speech_picks_espeak_and_caches_by_voice(tmp_path: Path) -> None:
    settings = VoiceSettings(tts_engine="espeak", espeak_rate=160, speech_cache_dir=tmp_path)
    speech = load_speech(settings, sample_rate=22_050)
    assert isinstance(speech, EspeakSpeech) and isinstance(speech, SpeechEngine)
    assert speech.prepare("Anything else?") is True
    assert speech.prepare("Anything else?") is False
    faster = EspeakSpeech(rate=200, cache=SpeechCache(disk_dir=tmp_path))
    assert faster.cached("Anything else?", None) is None  # another rate is another voice


def test_piper_still_speaks_after_espeak(espeak: EspeakSpeech, piper_voice: Any) -> None:
    """Piper phonemises with its own copy of eSpeak; the system library must not disturb it."""
    piper = PiperSpeech(piper_voice, identity="joe-test")
    before = piper_voice.phonemize("Hello there, Ann.")
    espeak.synthesize_piece("Something else entirely.", None)
    assert piper_voice.phonemize("Hello there, Ann.") == before
    piece = piper.synthesize_piece("Hello there, Ann.", None)
    assert piece.visemes is not None and len(piece.pcm) > 22_050  # over half a second


async def test_the_tts_service_speaks_espeak_pieces(espeak: EspeakSpeech) -> None:
    tts = AlignedTTS(espeak)
    text = "If your card has not arrived after ten days, freeze it in the app. Then order a new one."
    frames = [frame async for frame in tts.run_tts(text, "ctx-1")]
    assert len(frames) == 3 and all(isinstance(f, VisemeAudioFrame) for f in frames)
    for frame in frames:
        assert isinstance(frame, VisemeAudioFrame) and frame.sample_rate == 22_050
        assert frame.visemes is not None
        assert frame.visemes.duration <= len(frame.audio) / 2 / 22_050 + 1e-6
