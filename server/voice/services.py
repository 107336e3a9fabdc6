"""What every voice session of one process shares: models, Brain, store, speech cache."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from avatar.factory import warm_renderer
from server.brain.brain import Brain
from server.config import Settings, VoiceSettings
from server.speech_models import resolve_piper_voice, resolve_whisper_model
from server.store.store import Store
from server.voice.coqui import CoquiSpeech
from server.voice.engine import SpeechEngine
from server.voice.espeak import EspeakSpeech, EspeakUnavailable
from server.voice.speech_cache import SpeechCache
from server.voice.stt import WhisperLoad, load_whisper
from server.voice.tts import PiperSpeech

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceServices:
    settings: Settings
    brain: Brain
    store: Store
    whisper: WhisperModel
    voice: SpeechEngine
    hotwords: list[str]  # the ASR prompt's words: voice.asr_prompt, else the lexicon's
    whisper_load: WhisperLoad = field(default_factory=WhisperLoad)  # transcriptions running on it


def speech_cache(vs: VoiceSettings) -> SpeechCache:
    return SpeechCache(
        max_memory_mb=vs.speech_cache_memory_mb,
        disk_dir=vs.speech_cache_dir,
        max_disk_mb=vs.speech_cache_disk_mb,
    )


def load_speech(vs: VoiceSettings, *, sample_rate: int) -> SpeechEngine:
    """The configured engine (``voice.tts_engine``) with the process's speech cache.

    eSpeak NG and Coqui speak at ``sample_rate`` (the avatar's); a Piper voice at its own rate.
    """
    cache = speech_cache(vs)
    if vs.tts_engine == "espeak":
        return EspeakSpeech(vs.espeak_voice, rate=vs.espeak_rate, sample_rate=sample_rate, cache=cache)
    if vs.tts_engine == "coqui":
        return CoquiSpeech.load(
            vs.coqui_model_dir,
            sample_rate=sample_rate,
            language=vs.coqui_language,
            speaker=vs.coqui_speaker,
            speaker_wav=vs.coqui_speaker_wav,
            device=vs.coqui_device,
            phonemizer=_phonemizer(vs),
            cache=cache,
        )
    return PiperSpeech.load(resolve_piper_voice(vs.piper_voice), cache=cache)


def _phonemizer(vs: VoiceSettings) -> EspeakSpeech | None:
    """eSpeak NG to time Coqui's visemes; without it the avatar follows the audio's loudness."""
    try:
        return EspeakSpeech(vs.espeak_voice, rate=vs.espeak_rate)
    except EspeakUnavailable as exc:
        log.warning("coqui speech without visemes (mouth follows loudness): %s", exc)
        return None


def load_voice_services(settings: Settings, brain: Brain, store: Store) -> VoiceServices:
    """Load the speech models once (seconds); every session reuses them."""
    vs = settings.voice
    whisper_dir = resolve_whisper_model(vs.whisper_model, vs.model_cache_dir)
    warm_renderer(settings.avatar)
    return VoiceServices(
        settings=settings,
        brain=brain,
        store=store,
        whisper=load_whisper(
            whisper_dir, compute_type=vs.whisper_compute_type, cpu_threads=vs.whisper_threads
        ),
        voice=load_speech(vs, sample_rate=settings.avatar.sample_rate),
        hotwords=[vs.asr_prompt] if vs.asr_prompt else brain.retriever.lexicon.hotwords(60),
    )
