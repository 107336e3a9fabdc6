"""Coqui adapter: its errors, and its glue around a fake ``TTS`` package (coqui-tts is not installed)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avatar.visemes import Viseme
from server.config import VoiceSettings
from server.voice.speech.cache import SpeechCache
from server.voice.speech.coqui import CoquiModelError, CoquiSpeech, CoquiUnavailable, check_model_dir
from server.voice.speech.espeak import EspeakSpeech
from server.voice.speech.factory import load_speech
from server.voice.tts import AlignedTTS, VisemeAudioFrame

NATIVE_RATE = 24_000  # XTTS v2 speaks at 24 kHz
LEAD_S, SPEECH_S, TAIL_S = 0.25, 1.0, 0.15


class FakeCoquiTTS:
    """Stands in for ``TTS.api.TTS``: records how it is called, returns a tone between silences."""

    instances: list[FakeCoquiTTS] = []  # noqa: RUF012 (the fake's call log)

    def __init__(self, *, model_path: str, config_path: str, progress_bar: bool) -> None:
        self.model_path = model_path
        self.config_path = config_path
        self.progress_bar = progress_bar
        self.synthesizer = types.SimpleNamespace(output_sample_rate=NATIVE_RATE)
        self.device = "unset"
        self.calls: list[dict[str, Any]] = []
        FakeCoquiTTS.instances.append(self)

    def to(self, device: str) -> FakeCoquiTTS:
        self.device = device
        return self

    def tts(self, text: str, **kwargs: Any) -> list[float]:
        self.calls.append({"text": text, **kwargs})
        speech_s = SPEECH_S / float(kwargs.get("speed", 1.0))
        t = np.arange(int(speech_s * NATIVE_RATE)) / NATIVE_RATE
        tone = 0.4 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
        silence = [np.zeros(int(s * NATIVE_RATE)) for s in (LEAD_S, TAIL_S)]
        return [float(x) for x in np.concatenate([silence[0], tone, silence[1]])]


@pytest.fixture()
def fake_tts_package(monkeypatch: pytest.MonkeyPatch) -> type[FakeCoquiTTS]:
    package = types.ModuleType("TTS")
    api = types.ModuleType("TTS.api")
    api.TTS = FakeCoquiTTS  # type: ignore[attr-defined]
    package.api = api  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "TTS", package)
    monkeypatch.setitem(sys.modules, "TTS.api", api)
    FakeCoquiTTS.instances.clear()
    return FakeCoquiTTS


def _model_dir(root: Path, kind: str = "xtts") -> Path:
    path = root / "xtts_v2"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model": kind, "audio": {"output_sample_rate": 24000}}))
    (path / "model.pth").write_bytes(b"weights")
    (path / "vocab.json").write_text("{}")
    return path


def test_model_dir_errors_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(CoquiModelError, match="coqui_model_dir is not set"):
        check_model_dir(None)
    for name in ("tts_models/multilingual/multi-dataset/xtts_v2", "coqui/XTTS-v2"):
        with pytest.raises(CoquiModelError, match="never downloaded"):
            check_model_dir(Path(name))
    with pytest.raises(CoquiModelError, match="does not exist"):
        check_model_dir(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CoquiModelError, match="not a directory"):
        check_model_dir(tmp_path / "file")
    model = _model_dir(tmp_path)
    (model / "model.pth").unlink()
    with pytest.raises(CoquiModelError, match="no checkpoint"):
        check_model_dir(model)
    (model / "config.json").write_text("{not json")
    with pytest.raises(CoquiModelError, match="not valid JSON"):
        check_model_dir(model)
    (model / "config.json").unlink()
    with pytest.raises(CoquiModelError, match=r"no config\.json"):
        check_model_dir(model)


def test_missing_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "TTS", None)  # as when coqui-tts is not installed
    with pytest.raises(CoquiUnavailable, match=r"pip install -e '\.\[coqui\]'"):
        CoquiSpeech.load(_model_dir(tmp_path), sample_rate=22_050, speaker="Ana Florence")


def test_xtts_needs_a_speaker(tmp_path: Path, fake_tts_package: type[FakeCoquiTTS]) -> None:
    model = _model_dir(tmp_path)
    with pytest.raises(CoquiModelError, match="coqui_speaker"):
        CoquiSpeech.load(model, sample_rate=22_050)
    with pytest.raises(CoquiModelError, match="is not a file"):
        CoquiSpeech.load(model, sample_rate=22_050, speaker_wav=tmp_path / "missing.wav")
    assert fake_tts_package.instances == []  # nothing was loaded


def test_glue_loads_by_path_resamples_and_times_the_mouth(
    tmp_path: Path, fake_tts_package: type[FakeCoquiTTS]
) -> None:
    model = _model_dir(tmp_path)
    speech = CoquiSpeech.load(
        model, sample_rate=22_050, speaker="Ana Florence", device="cpu", phonemizer=EspeakSpeech()
    )
    (fake,) = fake_tts_package.instances
    assert fake.model_path == str(model) and fake.config_path == str(model / "config.json")
    assert fake.device == "cpu" and fake.progress_bar is False

    piece = speech.synthesize_piece("Your card is on its way.", None)
    assert fake.calls[-1] == {
        "text": "Your card is on its way.",
        "language": "en",
        "speaker": "Ana Florence",
        "split_sentences": False,
    }
    seconds = len(piece.pcm) / 2 / 22_050
    assert seconds == pytest.approx(LEAD_S + SPEECH_S + TAIL_S, abs=0.002)  # 24 kHz in, 22.05 kHz out
    assert piece.visemes is not None and len(piece.visemes) > 5
    assert float(piece.visemes.starts[0]) == pytest.approx(LEAD_S, abs=0.011)
    assert piece.visemes.duration == pytest.approx(LEAD_S + SPEECH_S, abs=0.011)
    segments = piece.visemes.segments()
    assert segments[0][0] is not Viseme.SIL and segments[-1][0] is not Viseme.SIL  # silence trimmed

    slow = speech.synthesize_piece("Your card is on its way.", 1.3)
    assert fake.calls[-1]["speed"] == pytest.approx(1 / 1.3)
    assert len(slow.pcm) > len(piece.pcm)


def test_without_espeak_the_pieces_carry_no_visemes(
    tmp_path: Path, fake_tts_package: type[FakeCoquiTTS]
) -> None:
    speech = CoquiSpeech.load(_model_dir(tmp_path), sample_rate=24_000, speaker="Ana Florence", device="cpu")
    piece = speech.synthesize_piece("Hello.", None)
    assert piece.visemes is None  # the avatar then follows the audio's loudness
    assert len(piece.pcm) == 2 * int((LEAD_S + SPEECH_S + TAIL_S) * NATIVE_RATE)  # no resampling


def test_other_models_load_their_checkpoint_file(
    tmp_path: Path, fake_tts_package: type[FakeCoquiTTS]
) -> None:
    model = _model_dir(tmp_path, kind="vits")
    CoquiSpeech.load(model, sample_rate=22_050, language=None, device="cpu")
    assert fake_tts_package.instances[0].model_path == str(model / "model.pth")


async def test_load_speech_and_the_tts_service(tmp_path: Path, fake_tts_package: type[FakeCoquiTTS]) -> None:
    settings = VoiceSettings(
        tts_engine="coqui",
        coqui_model_dir=_model_dir(tmp_path),
        coqui_speaker="Ana Florence",
        coqui_device="cpu",
        speech_cache_dir=tmp_path / "cache",
    )
    speech = load_speech(settings, sample_rate=22_050)
    assert isinstance(speech, CoquiSpeech) and speech.identity.startswith("coqui:xtts_v2:")
    text = "Your card is blocked. A new one is on its way."
    tts = AlignedTTS(speech, cacheable={text}.__contains__)  # an approved answer
    frames = [frame async for frame in tts.run_tts(text, "ctx-1")]
    assert len(frames) == 2 and all(isinstance(f, VisemeAudioFrame) for f in frames)
    assert all(
        f.sample_rate == 22_050 and f.visemes is not None for f in frames if isinstance(f, VisemeAudioFrame)
    )
    calls = len(fake_tts_package.instances[0].calls)
    again = [frame async for frame in tts.run_tts(text, "ctx-2")]
    assert len(again) == 2 and len(fake_tts_package.instances[0].calls) == calls  # from the cache
    fresh = CoquiSpeech.load(
        settings.coqui_model_dir,
        sample_rate=22_050,
        speaker="Ana Florence",
        device="cpu",
        cache=SpeechCache(disk_dir=tmp_path / "cache"),
    )
    assert fresh.cached(text, None) is not None
