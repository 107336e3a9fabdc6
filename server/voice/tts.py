"""The pipecat TTS service for any ``SpeechEngine`` (Piper, eSpeak NG or Coqui).

It attaches a viseme timeline to every audio frame it yields, so the avatar can
move the mouth in sync. A customer who asks for slower speech sends a
``TTSUpdateSettingsFrame`` with ``AlignedTTSSettings(slow=...)``; a failure is a
``SpeechSynthesisFailedFrame`` (the session goes on with subtitles).

Speech starts as soon as the first piece is ready: a reply is cut into
sentences, and a long first sentence into its first clause and the rest, and
each piece is synthesised and sent on its own. Whole replies are kept in a
``SpeechCache`` (approved answers are fixed texts), so a repeated answer starts
at once; the key includes the exact text, so edited answers never replay old
audio. Only texts ``cacheable`` approves are kept (``server.voice.speech.approved``:
approved knowledge text, never operator or generated lines); by default none.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pipecat.frames.frames import Frame, TTSAudioRawFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.utils.types import NOT_GIVEN, NotGiven

from avatar.timeline import VisemeTimeline
from server.voice.frames import SpeechSynthesisFailedFrame
from server.voice.speech.cache import SpeechPiece
from server.voice.speech.engine import SpeechEngine, speech_pieces, trim_leading_silence

__all__ = ["AlignedPiperTTS", "AlignedTTS", "AlignedTTSSettings", "VisemeAudioFrame"]

SLOW_LENGTH_SCALE = 1.3
#: While a piece is synthesised its audio context is kept open this often: pipecat ends a context
#: that brings no audio for ``stop_frame_timeout_s`` (3 s), and under load one piece can take longer.
KEEPALIVE_S = 1.0

T = TypeVar("T")


def _never(_text: str) -> bool:
    return False


@dataclass
class VisemeAudioFrame(TTSAudioRawFrame):
    """TTS audio (PCM16 mono) and the viseme timeline that belongs to it."""

    visemes: VisemeTimeline | None = field(default=None)


@dataclass
class AlignedTTSSettings(TTSSettings):
    """``slow``: slower speech for customers who ask for it (accessibility)."""

    slow: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)


class AlignedTTS(TTSService):
    """Piece by piece synthesis with any ``SpeechEngine``; each piece is one frame with its visemes."""

    Settings = AlignedTTSSettings
    _settings: AlignedTTSSettings

    def __init__(
        self,
        speech: SpeechEngine,
        *,
        length_scale: float | None = None,
        cacheable: Callable[[str], bool] = _never,
        **kwargs: Any,
    ) -> None:
        self._speech = speech
        self._length_scale = length_scale
        self._cacheable = cacheable
        super().__init__(
            sample_rate=speech.sample_rate,
            push_stop_frames=True,
            settings=AlignedTTSSettings(model=None, voice=None, language=None, slow=False),
            **kwargs,
        )

    @property
    def slow(self) -> bool:
        return self._settings.slow is True

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

    async def _working(self, context_id: str, work: Callable[[], T]) -> T:
        """``work()`` in a thread, the context kept open meanwhile: a slow piece is not the end of it."""
        done = asyncio.ensure_future(asyncio.to_thread(work))
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(done), KEEPALIVE_S)
            except TimeoutError:
                self._refresh_audio_context(context_id)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        scale = SLOW_LENGTH_SCALE if self.slow else self._length_scale
        try:
            await self.start_tts_usage_metrics(text)
            clip = await self._working(context_id, functools.partial(self._speech.cached, text, scale))
            if clip is not None:
                await self.stop_ttfb_metrics()
                for i, piece in enumerate(clip.pieces):
                    yield self._frame(self._first(piece) if i == 0 else piece, context_id)
                return
            pieces: list[SpeechPiece] = []
            for part in speech_pieces(text):
                piece = await self._working(
                    context_id, functools.partial(self._speech.synthesize_piece, part, scale)
                )
                await self.stop_ttfb_metrics()
                yield self._frame(piece if pieces else self._first(piece), context_id)
                pieces.append(piece)
            if self._cacheable(text):
                await self._working(context_id, functools.partial(self._speech.store, text, scale, pieces))
        except Exception as exc:  # the pipeline degrades to subtitles; the error is reported once
            yield SpeechSynthesisFailedFrame(error=f"speech synthesis failed: {exc}")
        finally:
            await self.stop_ttfb_metrics()


#: The service's name before it took any engine (``server.voice.session`` still uses it).
AlignedPiperTTS = AlignedTTS
