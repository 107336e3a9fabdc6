"""What every voice session of one process shares: models, Brain, store, tickets, speech cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from avatar.factory import warm_renderer
from server.brain.brain import Brain
from server.config import Settings
from server.speech_models import resolve_whisper_model
from server.store.store import Store
from server.tickets.service import TicketSink
from server.voice.speech.engine import SpeechEngine
from server.voice.speech.factory import load_speech
from server.voice.stt import WhisperLoad, load_whisper

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceServices:
    settings: Settings
    brain: Brain
    store: Store
    tickets: TicketSink | None  # queues hand-off and closing tickets
    whisper: WhisperModel
    voice: SpeechEngine
    hotwords: list[str]  # the ASR prompt's words: voice.asr_prompt, else the lexicon's
    whisper_load: WhisperLoad = field(default_factory=WhisperLoad)  # transcriptions running on it


def load_voice_services(
    settings: Settings, brain: Brain, store: Store, tickets: TicketSink | None = None
) -> VoiceServices:
    """Load the speech models once (seconds); every session reuses them."""
    vs = settings.voice
    whisper_dir = resolve_whisper_model(vs.whisper_model, vs.model_cache_dir)
    warm_renderer(settings.avatar)
    return VoiceServices(
        settings=settings,
        brain=brain,
        store=store,
        tickets=tickets,
        whisper=load_whisper(
            whisper_dir, compute_type=vs.whisper_compute_type, cpu_threads=vs.whisper_threads
        ),
        voice=load_speech(vs, sample_rate=settings.avatar.sample_rate),
        hotwords=[vs.asr_prompt] if vs.asr_prompt else brain.retriever.lexicon.hotwords(60),
    )
