"""Piper speech with per-phoneme alignments, as a pipecat TTS service.

pipecat's own Piper service drops the alignments and downloads voices; this one
loads a local voice with alignments on and attaches a viseme timeline to every
audio frame it yields, so the avatar can move the mouth in sync.

Speech starts as soon as the first piece is ready: a reply is cut into
sentences, and a long first sentence into its first clause and the rest, and
each piece is synthesised and sent on its own. Whole replies are kept in a
``SpeechCache`` (approved answers are fixed texts), so a repeated answer starts
at once; the key includes the exact text, so edited answers never replay old
audio.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pipecat.frames.frames import ErrorFrame, Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from avatar.timeline import VisemeTimeline
from server.voice.speech_cache import SpeechCache, SpeechClip, SpeechPiece, speech_key, voice_identity

if TYPE_CHECKING:
    from piper import PiperVoice

SLOW_LENGTH_SCALE = 1.3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
MIN_CLAUSE_WORDS = 4  # a first clause shorter than this is not worth its own piece


@dataclass
class VisemeAudioFrame(TTSAudioRawFrame):
    """TTS audio (PCM16 mono) and the viseme timeline that belongs to it."""

    visemes: VisemeTimeline | None = field(default=None)


def load_piper_voice(path: Path) -> PiperVoice:
    from piper import PiperVoice

    return PiperVoice.load(str(path), include_alignments=True)


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


class PiperSpeech:
    """One Piper voice shared by every session of a process, with its speech cache."""

    def __init__(self, voice: PiperVoice, *, identity: str, cache: SpeechCache | None = None) -> None:
        self.voice = voice
        self.identity = identity
        self.cache = cache

    @classmethod
    def load(cls, path: Path, *, cache: SpeechCache | None = None) -> PiperSpeech:
        return cls(load_piper_voice(path), identity=voice_identity(path), cache=cache)

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    def key(self, text: str, length_scale: float | None) -> str:
        return speech_key(self.identity, length_scale, text)

    def cached(self, text: str, length_scale: float | None) -> SpeechClip | None:
        return self.cache.get(self.key(text, length_scale)) if self.cache is not None else None

    def synthesize_piece(self, text: str, length_scale: float | None) -> SpeechPiece:
        """Synthesise one piece (blocking; call it from a worker thread)."""
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=length_scale)
        pcm = bytearray()
        timelines: list[tuple[float, VisemeTimeline]] = []
        for chunk in self.voice.synthesize(text, syn_config=config, include_alignments=True):
            timeline = VisemeTimeline.from_piper_chunk(chunk)
            if timeline is not None:
                timelines.append((len(pcm) / 2 / self.sample_rate, timeline))
            pcm.extend(chunk.audio_int16_bytes)
        return SpeechPiece(pcm=bytes(pcm), visemes=_join(timelines))

    def store(self, text: str, length_scale: float | None, pieces: list[SpeechPiece]) -> None:
        if self.cache is not None and pieces:
            self.cache.put(self.key(text, length_scale), SpeechClip(self.sample_rate, tuple(pieces)))

    def prepare(self, text: str, length_scale: float | None = None) -> bool:
        """Synthesise ``text`` into the cache unless it is there; True if it was synthesised."""
        if self.cache is None or self.key(text, length_scale) in self.cache:
            return False
        self.store(text, length_scale, [self.synthesize_piece(p, length_scale) for p in speech_pieces(text)])
        return True


def _join(timelines: list[tuple[float, VisemeTimeline]]) -> VisemeTimeline | None:
    """One timeline for a piece Piper returned in several chunks (offsets in seconds)."""
    if not timelines:
        return None
    if len(timelines) == 1 and timelines[0][0] == 0.0:
        return timelines[0][1]
    return VisemeTimeline(
        np.concatenate([t.starts + offset for offset, t in timelines]),
        np.concatenate([t.ends + offset for offset, t in timelines]),
        np.concatenate([t.visemes for _, t in timelines]),
    )


class AlignedPiperTTS(TTSService):
    """Piece by piece Piper synthesis; each piece is one frame with its visemes."""

    def __init__(self, speech: PiperSpeech, *, length_scale: float | None = None, **kwargs: Any) -> None:
        self._speech = speech
        self._length_scale = length_scale
        super().__init__(
            sample_rate=speech.sample_rate,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice=None, language=None),
            **kwargs,
        )

    def set_slow(self, slow: bool) -> None:
        """Slower speech for customers who ask for it (accessibility)."""
        self._length_scale = SLOW_LENGTH_SCALE if slow else None

    def can_generate_metrics(self) -> bool:
        return True

    def _frame(self, piece: SpeechPiece, context_id: str) -> VisemeAudioFrame:
        return VisemeAudioFrame(
            audio=piece.pcm,
            sample_rate=self._speech.sample_rate,
            num_channels=1,
            context_id=context_id,
            visemes=piece.visemes,
        )

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        scale = self._length_scale
        try:
            await self.start_tts_usage_metrics(text)
            clip = await asyncio.to_thread(self._speech.cached, text, scale)
            if clip is not None:
                await self.stop_ttfb_metrics()
                for piece in clip.pieces:
                    yield self._frame(piece, context_id)
                return
            pieces: list[SpeechPiece] = []
            for part in speech_pieces(text):
                piece = await asyncio.to_thread(self._speech.synthesize_piece, part, scale)
                await self.stop_ttfb_metrics()
                pieces.append(piece)
                yield self._frame(piece, context_id)
            await asyncio.to_thread(self._speech.store, text, scale, pieces)
        except Exception as exc:  # the pipeline degrades to subtitles; the error is reported once
            yield ErrorFrame(error=f"speech synthesis failed: {exc}")
        finally:
            await self.stop_ttfb_metrics()
