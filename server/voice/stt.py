"""faster-whisper on a local model, tuned for short customer turns.

Whisper pads every input to 30 seconds, and on a CPU the encoder pass over
those 30 seconds is most of the time a transcription takes. A customer turn is
a few seconds, so short segments are encoded only as long as they are (plus a
margin, in whole seconds) and decoded greedily with CTranslate2 directly: about
a fifth of the work, with the same words on our test questions. Segments
longer than ``SHORT_FORM_MAX_S`` take faster-whisper's ordinary path.

The knowledge lexicon biases recognition through a short initial prompt (the
bank's own words); a transcript that only repeats the prompt is treated as
silence.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ctranslate2  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from pipecat.frames.frames import (
    Frame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.utils.time import time_now_iso8601

from server.voice.frames import TranscriptionFailedFrame
from server.voice.turn_vad import CustomerPausedFrame, CustomerResumedFrame

log = logging.getLogger(__name__)

SHORT_FORM_MAX_S = 20.0  # longer segments are transcribed the ordinary (30 s window) way
MARGIN_S = 2.0  # encoded silence after the speech; less makes Whisper unsure where speech ends
NO_SPEECH_PROB = 0.6
PROMPT_CHARS = 240
MAX_TOKENS = 160
TOKENS_PER_S = 8.0  # fast speech is ~3 words (≈ 5 tokens) a second: more is Whisper looping
TOKENS_SLACK = 12

_WORD = re.compile(r"[a-z0-9']+")


def load_whisper(model_dir: Path, *, compute_type: str = "int8", cpu_threads: int = 2) -> WhisperModel:
    """One model per process, shared by every session (CTranslate2 is thread-safe)."""
    return WhisperModel(
        str(model_dir),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        local_files_only=True,
    )


def lexicon_prompt(hotwords: list[str], limit: int = PROMPT_CHARS) -> str:
    """``"Card, transfer, PIN."``-style prompt from the lexicon's words, at most ``limit`` chars."""
    words: list[str] = []
    for word in hotwords:
        if sum(len(w) + 2 for w in words) + len(word) > limit:
            break
        words.append(word)
    return f"{', '.join(words)}." if words else ""


def echoes_prompt(text: str, prompt: str) -> bool:
    """True when every word of ``text`` comes from the prompt (Whisper repeating it over noise)."""
    words = _WORD.findall(text.lower())
    return bool(words) and set(words) <= set(_WORD.findall(prompt.lower()))


_SENTENCE = re.compile(r"[^.?!]+[.?!]*")


def without_repeats(text: str) -> str:
    """``text`` without the loop greedy Whisper falls into over trailing silence.

    "How do I change my PIN? How do I change my PIN? How do I" → "How do I change my PIN?":
    a sentence equal to the one before it, or a last fragment that starts it again, is dropped.
    """
    kept: list[str] = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group().strip()
        if not sentence:
            continue
        key = sentence.lower().rstrip(".?!")
        last = kept[-1].lower().rstrip(".?!") if kept else None
        if last is not None and (key == last or (match.end() == len(text) and last.startswith(key))):
            continue
        kept.append(sentence)
    return " ".join(kept)


class ShortFormWhisper:
    """Greedy English transcription of one segment, encoding only as much audio as there is."""

    def __init__(self, model: WhisperModel, *, prompt: str = "") -> None:
        self.model = model
        self.prompt = prompt
        self._tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="en")
        prefix = [self._tokenizer.sot_prev, *self._tokenizer.encode(f" {prompt}")] if prompt else []
        self._prompt_tokens = [*prefix, *self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]

    def transcribe(self, samples: npt.NDArray[np.float32]) -> str:
        """Blocking; run it in a worker thread."""
        if len(samples) / 16_000 > SHORT_FORM_MAX_S:
            return self._long_form(samples)
        features = self.model.feature_extractor(samples)
        frames = int(np.ceil((features.shape[-1] + MARGIN_S * 100) / 100) * 100)
        features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[-1]))))[:, :frames]
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32))
        new_tokens = min(MAX_TOKENS, TOKENS_SLACK + int(TOKENS_PER_S * len(samples) / 16_000))
        max_tokens = len(self._prompt_tokens) + new_tokens  # CTranslate2 counts the prompt in max_length
        result = self.model.model.generate(
            batch,
            [self._prompt_tokens],
            beam_size=1,
            max_length=max_tokens,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        if result.no_speech_prob >= NO_SPEECH_PROB:
            return ""
        eot = self._tokenizer.eot
        text = without_repeats(
            self._tokenizer.decode([t for t in result.sequences_ids[0] if t < eot]).strip()
        )
        return "" if echoes_prompt(text, self.prompt) else text

    def _long_form(self, samples: npt.NDArray[np.float32]) -> str:
        segments, _ = self.model.transcribe(
            samples,
            language="en",
            beam_size=1,
            best_of=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            initial_prompt=self.prompt or None,
        )
        return " ".join(s.text.strip() for s in segments if s.no_speech_prob < NO_SPEECH_PROB).strip()


class WhisperLoad:
    """How many transcriptions are running on the process's shared model.

    CTranslate2 runs one at a time on it, and a transcription cannot be stopped
    once it runs: an early transcript that speech after the pause dropped keeps
    the model busy until it ends. So early transcripts, which are only a guess,
    start only while the model is idle, and a turn's final transcript never
    queues behind another session's guess.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0

    @property
    def busy(self) -> bool:
        return self._running > 0

    def started(self) -> None:
        with self._lock:
            self._running += 1

    def finished(self) -> None:
        with self._lock:
            self._running -= 1


@dataclass
class _EarlyTranscript:
    """A transcription started when the customer paused, of the speech up to the pause."""

    speech: bytes
    task: asyncio.Task[str]


class LocalWhisperSTT(WhisperSTTService):
    """Greedy decoding (beam 1), English, biased towards the bank's own words.

    Transcription starts when the customer pauses (``CustomerPausedFrame``), on
    the speech so far, while VAD waits out the rest of its stop time: when the
    turn does end, the silence after the pause is all the segment added, and
    the early transcript is the turn's. Speech after the pause
    (``CustomerResumedFrame``) drops it. The model is loaded once per process
    (``load_whisper``) and shared, with ``load`` counting its transcriptions: an
    early one starts only while none runs. ``hotwords`` come from the knowledge lexicon.
    ``last_latency_s`` is how long the last turn waited for its transcript, and
    ``early_hits`` counts turns whose early transcript was used.
    """

    def __init__(
        self,
        model: WhisperModel,
        *,
        hotwords: list[str],
        preroll_secs: float = 1.0,
        trailing_silence_secs: float = 0.5,
        load: WhisperLoad | None = None,
        **kwargs: Any,
    ) -> None:
        self._shared_model = model
        self._whisper_load = load or WhisperLoad()
        self._whisper = ShortFormWhisper(model, prompt=lexicon_prompt(hotwords))
        self._preroll_secs = preroll_secs
        super().__init__(
            settings=WhisperSTTService.Settings(model="local", language="en", no_speech_prob=NO_SPEECH_PROB),
            device="cpu",
            trailing_silence_secs=trailing_silence_secs,
            **kwargs,
        )
        self._early: _EarlyTranscript | None = None
        self.last_latency_s = 0.0
        self.early_hits = 0

    def _load(self) -> None:
        self._model = self._shared_model

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        # pipecat (pinned) keeps 1 s of audio from before VAD's start as the segment's lead-in;
        # Whisper's encoder time grows with every second it hears.
        self._audio_buffer_size_1s = int(self.sample_rate * 2 * self._preroll_secs)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, CustomerPausedFrame):
            await self._start_early()
        elif isinstance(frame, (CustomerResumedFrame, VADUserStartedSpeakingFrame)):
            await self._drop_early()

    async def _start_early(self) -> None:
        await self._drop_early()
        if self._model is None or not self._audio_buffer or self._whisper_load.busy:
            return
        speech = bytes(self._audio_buffer)  # pipecat's segment so far (1 s before the VAD start, then all)
        padded = speech + self._trailing_silence()
        self._early = _EarlyTranscript(speech, self.create_task(self._transcribe(padded), name="early-asr"))

    async def _drop_early(self) -> None:
        if self._early is not None:
            early, self._early = self._early, None
            await self.cancel_task(early.task)

    async def _transcribe(self, audio: bytes) -> str:
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0
        self._whisper_load.started()  # until the thread ends, even if this task is cancelled
        try:
            future = asyncio.get_running_loop().run_in_executor(None, self._counted, samples)
        except BaseException:
            self._whisper_load.finished()
            raise
        return await future

    def _counted(self, samples: npt.NDArray[np.float32]) -> str:
        try:
            return self._whisper.transcribe(samples)
        finally:
            self._whisper_load.finished()

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        """The turn's transcript; a failure goes downstream as a ``TranscriptionFailedFrame``."""
        if self._model is None:
            await self.push_frame(TranscriptionFailedFrame("transcription failed: Whisper model not loaded"))
            return
        started = time.perf_counter()
        await self.start_processing_metrics()
        try:
            text = await self._turn_text(audio)
        except Exception as exc:
            log.exception("transcription failed for one turn")
            await self.push_frame(TranscriptionFailedFrame(f"transcription failed: {exc}", exception=exc))
            return
        finally:
            await self.stop_processing_metrics()
        self.last_latency_s = time.perf_counter() - started
        yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), None)

    async def _turn_text(self, audio: bytes) -> str:
        early, self._early = self._early, None
        if early is not None and audio.startswith(early.speech):
            self.early_hits += 1
            return await early.task
        if early is not None:
            await self.cancel_task(early.task)
        return await self._transcribe(audio)
