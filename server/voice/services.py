"""What every voice session of one process shares: models, Brain, store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.brain.brain import Brain
from server.config import Settings
from server.speech_models import resolve_piper_voice, resolve_whisper_model
from server.store.store import Store
from server.voice.stt import load_whisper
from server.voice.tts import load_piper_voice

if TYPE_CHECKING:
    from faster_whisper import WhisperModel
    from piper import PiperVoice


@dataclass(frozen=True)
class VoiceServices:
    settings: Settings
    brain: Brain
    store: Store
    whisper: WhisperModel
    voice: PiperVoice
    hotwords: list[str]


def load_voice_services(settings: Settings, brain: Brain, store: Store) -> VoiceServices:
    """Load the speech models once (seconds); every session reuses them."""
    vs = settings.voice
    whisper_dir = resolve_whisper_model(vs.whisper_model, vs.model_cache_dir)
    return VoiceServices(
        settings=settings,
        brain=brain,
        store=store,
        whisper=load_whisper(
            whisper_dir, compute_type=vs.whisper_compute_type, cpu_threads=vs.whisper_threads
        ),
        voice=load_piper_voice(resolve_piper_voice(vs.piper_voice)),
        hotwords=brain.retriever.lexicon.hotwords(60),
    )
