"""Coqui TTS on a local model directory: better voices for deployments with a GPU.

Only loaded when ``voice.tts_engine`` is ``coqui``. The ``TTS`` package comes
from the optional extra ``coqui`` (``pip install -e '.[coqui]'``, the maintained
``coqui-tts`` fork); it is not installed by default. The model is a directory
already on disk (XTTS v2: ``config.json``, ``model.pth``, ``vocab.json``,
``speakers_xtts.pth``, ...): a Coqui model *name* is refused, because Coqui
would download it.

Licence: the XTTS v2 weights are published under the Coqui Public Model
License, which allows non-commercial use only. A bank needs a commercial
licence for them, or another model whose licence allows its use.

Coqui returns no phoneme alignments. The mouth is timed by eSpeak NG instead:
eSpeak speaks the same text silently (a few milliseconds), and its phoneme
timeline is stretched over the voiced part of Coqui's audio. Without eSpeak NG
the pieces carry no visemes and the avatar moves the mouth with the loudness of
the audio. The model serves one synthesis at a time (a lock), which is what one
GPU does anyway.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from avatar.timeline import VisemeTimeline
from avatar.visemes import VISEME_INDEX, Viseme
from server.voice.speech.cache import SpeechCache, SpeechPiece, voice_identity
from server.voice.speech.engine import CachedSpeech, pcm16
from server.voice.speech.espeak import EspeakSpeech

log = logging.getLogger(__name__)

EXTRA = "coqui"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")
VOICED_LEVEL = 0.05  # a 10 ms frame is voiced above this share of the loudest frame's RMS
_HUB_NAME = re.compile(r"^(tts_models|vocoder_models|voice_conversion_models)/|^[\w.-]+/[\w.-]+$")


class CoquiUnavailable(RuntimeError):
    """The ``TTS`` package (optional extra ``coqui``) is not installed."""


class CoquiModelError(ValueError):
    """The configured Coqui model is not a usable local model directory."""


def check_model_dir(path: Path | None) -> Path:
    """``path`` as a Coqui model directory with a readable ``config.json`` and a checkpoint."""
    if path is None:
        raise CoquiModelError("voice.tts_engine is coqui but voice.coqui_model_dir is not set")
    if not path.exists():
        if _HUB_NAME.match(path.as_posix()):
            raise CoquiModelError(
                f"voice.coqui_model_dir {str(path)!r} looks like a Coqui/Hugging Face model name; "
                "models are never downloaded here: fetch the model once, then set the path of its directory"
            )
        raise CoquiModelError(f"Coqui model directory {path} does not exist")
    if not path.is_dir():
        raise CoquiModelError(f"Coqui model path {path} is not a directory")
    config = path / "config.json"
    if not config.is_file():
        raise CoquiModelError(f"Coqui model directory {path} has no config.json")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CoquiModelError(f"{config} is not valid JSON: {exc}") from exc
    if not _checkpoints(path):
        raise CoquiModelError(
            f"Coqui model directory {path} has no checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})"
        )
    return path


def _checkpoints(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)


def _model_kind(path: Path) -> str:
    return str(json.loads((path / "config.json").read_text(encoding="utf-8")).get("model", ""))


def import_tts_api() -> Any:
    """``TTS.api`` of the installed ``coqui-tts``, or a clear error naming the extra."""
    try:
        return importlib.import_module("TTS.api")
    except ModuleNotFoundError as exc:
        raise CoquiUnavailable(
            f"voice.tts_engine is coqui but the TTS package is not installed ({exc}); "
            f"install the optional extra: pip install -e '.[{EXTRA}]'"
        ) from exc


def _device(device: Literal["auto", "cpu", "cuda"]) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def voiced_span(samples: npt.NDArray[np.float32], rate: int) -> tuple[float, float] | None:
    """Start and end (seconds) of the part of ``samples`` louder than ``VOICED_LEVEL`` of its peak."""
    hop = max(1, rate // 100)
    frames = samples[: samples.size // hop * hop].reshape(-1, hop)
    if not frames.size:
        return None
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > VOICED_LEVEL * float(rms.max())) if float(rms.max()) > 0 else np.zeros(0)
    if not loud.size:
        return None
    return float(loud[0] * hop / rate), float((loud[-1] + 1) * hop / rate)


def stretched(timeline: VisemeTimeline, target: tuple[float, float]) -> VisemeTimeline:
    """``timeline``'s spoken segments (silence trimmed) mapped linearly onto ``target``."""
    spoken = np.flatnonzero(timeline.visemes != VISEME_INDEX[Viseme.SIL])
    if not spoken.size:
        return VisemeTimeline.empty()
    lo, hi = int(spoken[0]), int(spoken[-1]) + 1
    src_start, src_end = float(timeline.starts[lo]), float(timeline.ends[hi - 1])
    scale = (target[1] - target[0]) / max(src_end - src_start, 1e-6)
    return VisemeTimeline(
        target[0] + (timeline.starts[lo:hi] - src_start) * scale,
        target[0] + (timeline.ends[lo:hi] - src_start) * scale,
        timeline.visemes[lo:hi].copy(),
    )


class CoquiSpeech(CachedSpeech):
    """A loaded Coqui model (``TTS.api.TTS``) speaking one language with one speaker."""

    def __init__(
        self,
        tts: Any,
        *,
        identity: str,
        sample_rate: int,
        language: str | None = None,
        speaker: str | None = None,
        speaker_wav: Path | None = None,
        phonemizer: EspeakSpeech | None = None,
        cache: SpeechCache | None = None,
    ) -> None:
        super().__init__(identity=identity, cache=cache)
        self._tts = tts
        self._native_rate = int(tts.synthesizer.output_sample_rate)
        self._sample_rate = sample_rate
        self._language = language
        self._speaker = speaker
        self._speaker_wav = speaker_wav
        self._phonemizer = phonemizer
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_dir: Path | None,
        *,
        sample_rate: int,
        language: str | None = "en",
        speaker: str | None = None,
        speaker_wav: Path | None = None,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        phonemizer: EspeakSpeech | None = None,
        cache: SpeechCache | None = None,
    ) -> CoquiSpeech:
        """Load the model in ``model_dir`` (seconds to a minute); errors name what to fix."""
        path = check_model_dir(model_dir)
        kind = _model_kind(path)
        if speaker_wav is not None and not speaker_wav.is_file():
            raise CoquiModelError(f"voice.coqui_speaker_wav {speaker_wav} is not a file")
        if kind == "xtts" and speaker is None and speaker_wav is None:
            raise CoquiModelError(
                "XTTS needs voice.coqui_speaker (a built-in speaker) or voice.coqui_speaker_wav"
            )
        api = import_tts_api()
        checkpoint = path if kind == "xtts" else _checkpoints(path)[0]
        tts = api.TTS(model_path=str(checkpoint), config_path=str(path / "config.json"), progress_bar=False)
        tts = tts.to(_device(device))
        voice = f"{speaker_wav.name}:{voice_identity(speaker_wav)}" if speaker_wav is not None else speaker
        weights = ":".join(voice_identity(p) for p in _checkpoints(path))
        identity = f"coqui:{path.name}:{voice_identity(path / 'config.json')}:{weights}:{language}:{voice}"
        log.info("coqui model loaded: %s (%s)", path.name, kind or "unknown kind")
        return cls(
            tts,
            identity=f"{identity}:{sample_rate}",
            sample_rate=sample_rate,
            language=language,
            speaker=speaker,
            speaker_wav=speaker_wav,
            phonemizer=phonemizer,
            cache=cache,
        )

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def synthesize_piece(self, text: str, length_scale: float | None) -> SpeechPiece:
        """Synthesise one piece (blocking; call it from a worker thread)."""
        kwargs: dict[str, Any] = {"split_sentences": False}
        if self._language is not None:
            kwargs["language"] = self._language
        if self._speaker_wav is not None:
            kwargs["speaker_wav"] = str(self._speaker_wav)
        elif self._speaker is not None:
            kwargs["speaker"] = self._speaker
        if length_scale:
            kwargs["speed"] = 1.0 / length_scale
        with self._lock:
            wav = self._tts.tts(text=text, **kwargs)
        samples = np.asarray(wav, dtype=np.float32).reshape(-1)
        pcm = pcm16(samples, self._native_rate, self._sample_rate)
        return SpeechPiece(pcm=pcm, visemes=self._visemes(text, samples))

    def _visemes(self, text: str, samples: npt.NDArray[np.float32]) -> VisemeTimeline | None:
        if self._phonemizer is None:
            return None
        span = voiced_span(samples, self._native_rate)
        if span is None:
            return None
        timeline = self._phonemizer.timeline(text)
        return stretched(timeline, span) if len(timeline) else None
