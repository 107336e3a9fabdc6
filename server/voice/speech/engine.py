"""What a speech engine offers the TTS service and the cache warmer, and what engines share.

An engine turns one piece of text (a sentence or a clause, see ``speech_pieces``)
into PCM16 mono audio at its ``sample_rate`` plus the viseme timeline that goes
with it, and keeps whole replies in a ``SpeechCache`` keyed by its ``identity``
(voice, engine settings), the speaking speed and the exact text. Piper
(``server.voice.speech.piper``), eSpeak NG (``server.voice.speech.espeak``) and Coqui
(``server.voice.speech.coqui``) implement it; ``server.voice.speech.factory.load_speech``
picks the configured one.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import soxr  # type: ignore[import-untyped]

from avatar.timeline import VisemeTimeline
from server.voice.speech.cache import SpeechCache, SpeechClip, SpeechPiece, speech_key

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
MIN_CLAUSE_WORDS = 4  # a first clause shorter than this is not worth its own piece


def speech_pieces(text: str) -> list[str]:
    """Sentences of ``text``; a long first sentence is split after its first clause."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    if not sentences:
        return []
    first, rest = sentences[0], sentences[1:]
    clauses = _CLAUSE_END.split(first, maxsplit=1)
    if len(clauses) == 2 and all(len(c.split()) >= MIN_CLAUSE_WORDS for c in clauses):
        return [*clauses, *rest]
    return sentences


@runtime_checkable
class SpeechEngine(Protocol):
    """One voice shared by every session of a process, with its speech cache.

    ``length_scale`` is the relative duration of speech (``None``: the voice's
    own pace; 1.3: thirty percent slower).
    """

    @property
    def sample_rate(self) -> int: ...

    @property
    def identity(self) -> str: ...

    def key(self, text: str, length_scale: float | None) -> str: ...

    def cached(self, text: str, length_scale: float | None) -> SpeechClip | None: ...

    def synthesize_piece(self, text: str, length_scale: float | None) -> SpeechPiece:
        """Synthesise one piece (blocking; call it from a worker thread)."""
        ...

    def store(self, text: str, length_scale: float | None, pieces: list[SpeechPiece]) -> None: ...

    def prepare(self, text: str, length_scale: float | None = None) -> bool:
        """Synthesise ``text`` into the cache unless it is there; True if it was synthesised."""
        ...


class CachedSpeech(ABC):
    """The cache half of ``SpeechEngine``; subclasses synthesise."""

    def __init__(self, *, identity: str, cache: SpeechCache | None = None) -> None:
        self._identity = identity
        self.cache = cache

    @property
    def identity(self) -> str:
        return self._identity

    @property
    @abstractmethod
    def sample_rate(self) -> int: ...

    @abstractmethod
    def synthesize_piece(self, text: str, length_scale: float | None) -> SpeechPiece:
        """Synthesise one piece (blocking; call it from a worker thread)."""

    def key(self, text: str, length_scale: float | None) -> str:
        return speech_key(self.identity, length_scale, text)

    def cached(self, text: str, length_scale: float | None) -> SpeechClip | None:
        return self.cache.get(self.key(text, length_scale)) if self.cache is not None else None

    def store(self, text: str, length_scale: float | None, pieces: list[SpeechPiece]) -> None:
        if self.cache is not None and pieces:
            self.cache.put(self.key(text, length_scale), SpeechClip(self.sample_rate, tuple(pieces)))

    def prepare(self, text: str, length_scale: float | None = None) -> bool:
        """Synthesise ``text`` into the cache unless it is there; True if it was synthesised."""
        if self.cache is None or self.key(text, length_scale) in self.cache:
            return False
        self.store(text, length_scale, [self.synthesize_piece(p, length_scale) for p in speech_pieces(text)])
        return True


SPEECH_LEVEL = 300  # int16 peak: quieter samples at the start of a piece are silence
KEEP_LEAD_S = 0.01  # silence kept before the first sound


def trim_leading_silence(piece: SpeechPiece, sample_rate: int) -> SpeechPiece:
    """``piece`` without the silence before its first sound (all but ``KEEP_LEAD_S``).

    Engines start every sentence with tens of milliseconds of silence; before a
    reply's first sound that is only waiting. The visemes move with the audio.
    """
    samples = np.frombuffer(piece.pcm, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SPEECH_LEVEL)
    cut = int(loud[0]) - int(KEEP_LEAD_S * sample_rate) if loud.size else 0
    if cut <= 0:
        return piece
    visemes = piece.visemes
    if visemes is not None:
        shift = cut / sample_rate
        starts, ends = np.maximum(visemes.starts - shift, 0.0), np.maximum(visemes.ends - shift, 0.0)
        keep = ends > starts
        visemes = VisemeTimeline(starts[keep], ends[keep], visemes.visemes[keep])
    return SpeechPiece(pcm=piece.pcm[2 * cut :], visemes=visemes)


def pcm16(samples: npt.ArrayLike, rate: int, target_rate: int) -> bytes:
    """PCM16 bytes of mono ``samples`` (int16, or float in [-1, 1]) resampled to ``target_rate``."""
    audio = np.asarray(samples)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio, got an array of shape {audio.shape}")
    if audio.dtype == np.int16 and rate == target_rate:
        return audio.tobytes()
    floats = audio.astype(np.float32) / 32768.0 if audio.dtype == np.int16 else audio.astype(np.float32)
    if rate != target_rate and floats.size:
        floats = soxr.resample(floats, rate, target_rate)
    return np.clip(np.round(floats * 32768.0), -32768, 32767).astype(np.int16).tobytes()
