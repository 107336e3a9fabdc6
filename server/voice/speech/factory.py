"""The configured speech engine (``voice.tts_engine``) with the process's speech cache."""

from __future__ import annotations

import logging

from server.config import VoiceSettings
from server.speech_models import resolve_piper_voice
from server.voice.speech.cache import SpeechCache
from server.voice.speech.coqui import CoquiSpeech
from server.voice.speech.engine import SpeechEngine
from server.voice.speech.espeak import EspeakSpeech, EspeakUnavailable
from server.voice.speech.piper import PiperSpeech

log = logging.getLogger(__name__)


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
