"""After a publish the running server speaks the new version's fixed texts into the cache (real eSpeak NG)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import pytest

from knowledge.schema import KnowledgeBase
from server.voice.speech.cache import SpeechCache
from server.voice.speech.espeak import EspeakSpeech
from server.voice.speech.warm import PublishWarmer, fixed_texts


def _kb(card_answer: str) -> KnowledgeBase:
    problems = [
        {"id": "card_lost", "standard_question": "I lost my card", "answer": card_answer},
        {"id": "pin_change", "standard_question": "Change my PIN", "answer": "Open Cards, then PIN."},
    ]
    scenario = {"id": "cards", "name": "Cards", "problems": problems}
    return KnowledgeBase.model_validate(
        {"name": "Test Bank", "products": [{"id": "cards", "name": "Cards", "scenarios": [scenario]}]}
    )


@dataclass
class FakeRetriever:
    """The two attributes of a ``Retriever`` the warmer reads."""

    version: int
    kb: KnowledgeBase


@dataclass
class FakeBrain:
    """A Brain serving ``retriever`` (publishes swap it, as ``Brain.use_retriever`` does)."""

    retriever: FakeRetriever


async def test_a_new_version_is_warmed_once_speech_is_loaded() -> None:
    brain = FakeBrain(FakeRetriever(1, _kb("Freeze the card in the app.")))
    speech = EspeakSpeech(cache=SpeechCache())
    loaded: list[EspeakSpeech] = []
    warmer = PublishWarmer(cast(Any, brain), lambda: loaded[0] if loaded else None)

    assert await warmer.check() == 0  # the version at start was warmed at build time
    brain.retriever = FakeRetriever(2, _kb("Freeze the card in the app."))
    assert await warmer.check() == 0 and warmer.warmed_version == 1  # no session has loaded speech yet
    loaded.append(speech)
    texts = fixed_texts(brain.retriever.kb)
    assert await warmer.check() == len(texts)
    assert all(speech.cached(text, None) is not None for text in texts)
    assert await warmer.check() == 0

    brain.retriever = FakeRetriever(3, _kb("Freeze the card in the app, then order a new one."))
    assert await warmer.check() == 1  # only the changed answer is synthesised
    assert speech.cached("Freeze the card in the app, then order a new one.", None) is not None


async def test_the_task_stops_when_cancelled() -> None:
    brain = FakeBrain(FakeRetriever(1, _kb("Freeze the card in the app.")))
    warmer = PublishWarmer(cast(Any, brain), lambda: None, interval_s=0.01)
    task = asyncio.create_task(warmer.run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
