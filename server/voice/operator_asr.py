"""Operator lines transcribed with the Whisper model the voice sessions already share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np

from server.voice.services import VoiceServices
from server.voice.stt import ShortFormWhisper, lexicon_prompt


class SharedWhisperTranscriber:
    """A ``LineTranscriber`` (``server.operator.speech``) on the sessions' model, loaded on first use."""

    def __init__(self, services: Callable[[], Awaitable[VoiceServices]]) -> None:
        self._services = services
        self._whisper: ShortFormWhisper | None = None

    async def transcribe(self, samples: np.ndarray[tuple[int], np.dtype[np.float32]]) -> str:
        if self._whisper is None:
            services = await self._services()
            self._whisper = ShortFormWhisper(services.whisper, prompt=lexicon_prompt(services.hotwords))
        return await asyncio.to_thread(self._whisper.transcribe, samples)
