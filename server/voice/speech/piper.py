"""Piper speech with per-phoneme alignments: one local voice, its pieces and their viseme timelines.

pipecat's own Piper service drops the alignments and downloads voices; this one loads a
local voice with alignments on, so the avatar can move the mouth in sync.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avatar.timeline import VisemeTimeline
from server.voice.speech.cache import SpeechCache, SpeechPiece, voice_identity
from server.voice.speech.engine import CachedSpeech

if TYPE_CHECKING:
    from piper import PiperVoice


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
