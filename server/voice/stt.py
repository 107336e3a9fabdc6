"""faster-whisper on a local model, tuned for short customer turns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.utils.time import time_now_iso8601


def load_whisper(model_dir: Path, *, compute_type: str = "int8", cpu_threads: int = 2) -> WhisperModel:
    """One model per process, shared by every session (CTranslate2 is thread-safe)."""
    return WhisperModel(
        str(model_dir),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        local_files_only=True,
    )


class LocalWhisperSTT(WhisperSTTService):
    """Greedy decoding (beam 1), English, biased towards the bank's own words.

    The model is loaded once per process (``load_whisper``) and shared.
    ``hotwords`` come from the knowledge lexicon. ``last_latency_s`` is the time
    the last segment took to transcribe, for the latency benchmark.
    """

    def __init__(self, model: WhisperModel, *, hotwords: list[str], **kwargs: Any) -> None:
        self._shared_model = model
        self._hotwords = " ".join(hotwords)[:600] or None
        super().__init__(
            settings=WhisperSTTService.Settings(model="local", language="en", no_speech_prob=0.6),
            device="cpu",
            **kwargs,
        )
        self.last_latency_s = 0.0

    def _load(self) -> None:
        self._model = self._shared_model

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        model = self._model
        if model is None:
            yield ErrorFrame("transcription failed: Whisper model not loaded")
            return
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        hotwords = self._hotwords

        def transcribe() -> str:
            segments, _ = model.transcribe(
                samples,
                language="en",
                beam_size=1,
                best_of=1,
                temperature=0.0,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
                hotwords=hotwords,
            )
            return " ".join(s.text.strip() for s in segments if s.no_speech_prob < 0.6).strip()

        started = time.perf_counter()
        await self.start_processing_metrics()
        text = await asyncio.to_thread(transcribe)
        await self.stop_processing_metrics()
        self.last_latency_s = time.perf_counter() - started
        yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), None)
