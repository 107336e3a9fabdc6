"""Short-form Whisper: real speech (Piper) in, the same words out; noise and prompt echoes out."""

from __future__ import annotations

from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server.speech_models import resolve_whisper_model
from server.voice.stt import ShortFormWhisper, echoes_prompt, lexicon_prompt, load_whisper, without_repeats

PROMPT = "Card, transfer, top-up, passcode, ATM, PIN, exchange rate, virtual card."  # as configured


@pytest.fixture(scope="module")
def whisper() -> ShortFormWhisper:
    model_dir = resolve_whisper_model("package:whisper-base", Path("var/models").resolve())
    return ShortFormWhisper(load_whisper(model_dir), prompt=PROMPT)


def _words(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split()]


def test_prompt_is_bounded_and_echoes_are_recognised() -> None:
    assert lexicon_prompt(["virtual card", "ATM"]) == "virtual card, ATM."
    assert len(lexicon_prompt(["word"] * 100, limit=40)) <= 41
    assert echoes_prompt("Card, transfer, top-up.", PROMPT)
    assert not echoes_prompt("Can I get a virtual card?", PROMPT)
    assert not echoes_prompt("", PROMPT)


@pytest.mark.parametrize(
    "question",
    ["Can I get a virtual card?", "I forgot my passcode and I can't log in.", "How do I change my PIN?"],
)
def test_short_segments_give_the_spoken_words(whisper: ShortFormWhisper, speak: Any, question: str) -> None:
    speech = speak(question, 16_000).astype(np.float32) / 32768.0
    segment = np.concatenate([np.zeros(16_000, np.float32), speech, np.zeros(4_800, np.float32)])
    heard = _words(whisper.transcribe(segment))
    # Whisper base on synthetic speech may swap one word ("car" for "card"); no more than that
    assert SequenceMatcher(None, heard, _words(question)).ratio() >= 0.85, heard


def test_the_loop_greedy_whisper_falls_into_is_cut() -> None:
    assert without_repeats("How do I change my PIN? How do I change my PIN? How do I change my PIN?") == (
        "How do I change my PIN?"
    )
    assert (
        without_repeats("I forgot my passcode. I forgot my passcode. I forgot my pass")
        == "I forgot my passcode."
    )
    assert (
        without_repeats("Card not arrived. Card not arrived? Where is it?")
        == "Card not arrived. Where is it?"
    )
    assert without_repeats("No, no. I said no.") == "No, no. I said no."
    assert without_repeats("Hello") == "Hello" and without_repeats("") == ""


def test_a_short_line_without_lead_in_is_transcribed_whole(whisper: ShortFormWhisper, speak: Any) -> None:
    # the token budget follows the audio's length, and the prompt does not eat into it
    speech = speak("Your new card is on its way.", 16_000).astype(np.float32) / 32768.0
    heard = _words(whisper.transcribe(np.concatenate([speech, np.zeros(8_000, np.float32)])))
    assert heard[-2:] == ["its", "way"], heard
