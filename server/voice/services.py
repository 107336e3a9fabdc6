"""What every voice session of one process shares: models, Brain, store, speech cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.brain.brain import Brain
from server.config import Settings, VoiceSettings
from server.speech_models import resolve_piper_voice, resolve_whisper_model
from server.store.store import Store
from server.voice.speech_cache import SpeechCache
from server.voice.stt import load_whisper
from server.voice.tts import PiperSpeech

if TYPE_CHECKING:
    from faster_whisper import WhisperModel


@dataclass(frozen=True)
class VoiceServices:
    settings: Settings
    brain: Brain
    store: Store
    whisper: WhisperModel
    voice: PiperSpeech
    hotwords: list[str]  # the ASR prompt's words: voice.asr_prompt, else the lexicon's


def speech_cache(vs: VoiceSettings) -> SpeechCache:
    return SpeechCache(
        max_memory_mb=vs.speech_cache_memory_mb,
        disk_dir=vs.speech_cache_dir,
        max_disk_mb=vs.speech_cache_disk_mb,
    )


def load_speech(vs: VoiceSettings) -> PiperSpeech:
    """The configured voice with the process's speech cache."""
    return PiperSpeech.load(resolve_piper_voice(vs.piper_voice), cache=speech_cache(vs))


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
        voice=load_speech(vs),
        hotwords=[vs.asr_prompt] if vs.asr_prompt else brain.retriever.lexicon.hotwords(60),
    )
