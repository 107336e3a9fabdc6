"""Piper speech with per-phoneme alignments, as a pipecat TTS service.

pipecat's own Piper service drops the alignments and downloads voices; this one
loads a local voice with alignments on and attaches a viseme timeline to every
audio frame it yields, so the avatar can move the mouth in sync.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipecat.frames.frames import ErrorFrame, Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService

from avatar.timeline import VisemeTimeline

if TYPE_CHECKING:
    from piper import PiperVoice


@dataclass
class VisemeAudioFrame(TTSAudioRawFrame):
    """TTS audio (PCM16 mono) and the viseme timeline that belongs to it."""

    visemes: VisemeTimeline | None = field(default=None)


def load_piper_voice(path: Path) -> PiperVoice:
    from piper import PiperVoice

    return PiperVoice.load(str(path), include_alignments=True)


def _next_chunk(chunks: Iterator[Any]) -> Any | None:
    return next(chunks, None)


class AlignedPiperTTS(TTSService):
    """Sentence by sentence Piper synthesis; each sentence is one frame with its visemes."""

    def __init__(self, voice: PiperVoice, *, length_scale: float | None = None, **kwargs: Any) -> None:
        self._voice = voice
        self._length_scale = length_scale
        super().__init__(
            sample_rate=voice.config.sample_rate,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice=None, language=None),
            **kwargs,
        )

    def set_slow(self, slow: bool) -> None:
        """Slower speech for customers who ask for it (accessibility)."""
        self._length_scale = 1.3 if slow else None

    def can_generate_metrics(self) -> bool:
        return True

    def _synthesize(self, text: str) -> Iterator[Any]:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self._length_scale)
        return iter(self._voice.synthesize(text, syn_config=config, include_alignments=True))

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        rate = self._voice.config.sample_rate
        try:
            await self.start_tts_usage_metrics(text)
            chunks = await asyncio.to_thread(self._synthesize, text)
            while (chunk := await asyncio.to_thread(_next_chunk, chunks)) is not None:
                await self.stop_ttfb_metrics()
                alignments = chunk.phoneme_alignments
                yield VisemeAudioFrame(
                    audio=chunk.audio_int16_bytes,
                    sample_rate=rate,
                    num_channels=1,
                    context_id=context_id,
                    visemes=VisemeTimeline.from_piper(alignments, rate) if alignments else None,
                )
        except Exception as exc:  # the pipeline degrades to subtitles; the error is reported once
            yield ErrorFrame(error=f"speech synthesis failed: {exc}")
        finally:
            await self.stop_ttfb_metrics()
