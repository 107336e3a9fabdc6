"""Piper speech with per-phoneme alignments, and the pipecat TTS service for any engine.

pipecat's own Piper service drops the alignments and downloads voices; this one
loads a local voice with alignments on and attaches a viseme timeline to every
audio frame it yields, so the avatar can move the mouth in sync. ``AlignedTTS``
speaks through any ``SpeechEngine`` (Piper here, eSpeak NG or Coqui).

Speech starts as soon as the first piece is ready: a reply is cut into
sentences, and a long first sentence into its first clause and the rest, and
each piece is synthesised and sent on its own. Whole replies are kept in a
``SpeechCache`` (approved answers are fixed texts), so a repeated answer starts
at once; the key includes the exact text, so edited answers never replay old
audio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pipecat.frames.frames import ErrorFrame, Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from avatar.timeline import VisemeTimeline
from server.voice.engine import CachedSpeech, SpeechEngine, speech_pieces, trim_leading_silence
from server.voice.speech_cache import SpeechCache, SpeechPiece, voice_identity

if TYPE_CHECKING:
    from piper import PiperVoice

__all__ = ["AlignedPiperTTS", "AlignedTTS", "PiperSpeech", "VisemeAudioFrame", "speech_pieces"]

SLOW_LENGTH_SCALE = 1.3


@dataclass
class VisemeAudioFrame(TTSAudioRawFrame):
    """TTS audio (PCM16 mono) and the viseme timeline that belongs to it."""

    visemes: VisemeTimeline | None = field(default=None)


def load_piper_voice(path: Path) -> PiperVoice:
    from piper import PiperVoice

    return PiperVoice.load(str(path), include_alignments=True)


class PiperSpeech(CachedSpeech):
    """One Piper voice shared by every session of a process, with its speech cache."""

    def __init__(self, voice: PiperVoice, *, identity: str, cache: SpeechCache | None = None) -> None:
        super().__init__(identity=identity, cache=cache)
        self.voice = voice

    @classmethod
    def load(cls, path: Path, *, cache: SpeechCache | None = None) -> PiperSpeech:
        return cls(load_piper_voice(path), identity=voice_identity(path), cache=cache)

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

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


class AlignedTTS(TTSService):
    """Piece by piece synthesis with any ``SpeechEngine``; each piece is one frame with its visemes."""

    def __init__(self, speech: SpeechEngine, *, length_scale: float | None = None, **kwargs: Any) -> None:
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

    def _first(self, piece: SpeechPiece) -> SpeechPiece:
        """The first piece of a text starts with its first sound (no lead-in silence)."""
        return trim_leading_silence(piece, self._speech.sample_rate)

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
                for i, piece in enumerate(clip.pieces):
                    yield self._frame(self._first(piece) if i == 0 else piece, context_id)
                return
            pieces: list[SpeechPiece] = []
            for part in speech_pieces(text):
                piece = await asyncio.to_thread(self._speech.synthesize_piece, part, scale)
                await self.stop_ttfb_metrics()
                yield self._frame(piece if pieces else self._first(piece), context_id)
                pieces.append(piece)
            await asyncio.to_thread(self._speech.store, text, scale, pieces)
        except Exception as exc:  # the pipeline degrades to subtitles; the error is reported once
            yield ErrorFrame(error=f"speech synthesis failed: {exc}")
        finally:
            await self.stop_ttfb_metrics()


#: The service's name before it took any engine (``server.voice.session`` still uses it).
AlignedPiperTTS = AlignedTTS
