"""The on-disk speech cache holds only approved knowledge text: never an operator's line or a
generated (LLM-worded) sentence (issue #18)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from knowledge.schema import KnowledgeBase
from server.brain.brain import Brain
from server.voice.speech.approved import ApprovedSpeech
from server.voice.speech.cache import SpeechCache, SpeechPiece
from server.voice.speech.engine import CachedSpeech
from server.voice.speech.warm import fixed_texts, prune
from server.voice.tts import SLOW_LENGTH_SCALE, AlignedTTS, VisemeAudioFrame

ANSWER = "Freeze the card in the app, then order a new one."


def _kb(answer: str) -> KnowledgeBase:
    problems = [{"id": "card_lost", "standard_question": "I lost my card", "answer": answer}]
    scenario = {"id": "cards", "name": "Cards", "problems": problems}
    return KnowledgeBase.model_validate(
        {"name": "Test Bank", "products": [{"id": "cards", "name": "Cards", "scenarios": [scenario]}]}
    )


@dataclass
class _Retriever:
    version: int
    kb: KnowledgeBase


@dataclass
class _Brain:
    retriever: _Retriever


class _Silence(CachedSpeech):
    """A speech engine that synthesises silence (no model needed) and counts its work."""

    def __init__(self, cache: SpeechCache) -> None:
        super().__init__(identity="silence", cache=cache)
        self.synthesised: list[str] = []

    @property
    def sample_rate(self) -> int:
        return 16_000

    def synthesize_piece(self, text: str, length_scale: float | None) -> SpeechPiece:
        self.synthesised.append(text)
        return SpeechPiece(pcm=b"\x01\x00" * 1600, visemes=None)


def _files(cache_dir: Path) -> int:
    return len(list(cache_dir.glob("*.npz")))


async def _speak(tts: AlignedTTS, text: str) -> list[Any]:
    return [frame async for frame in tts.run_tts(text, "ctx")]


async def test_only_approved_answers_reach_the_disk_cache(tmp_path: Path) -> None:
    brain = _Brain(_Retriever(1, _kb(ANSWER)))
    engine = _Silence(SpeechCache(disk_dir=tmp_path))
    tts = AlignedTTS(engine, cacheable=ApprovedSpeech(cast(Brain, brain)))
    operator = "Thanks, I can see the card ending 1112 on your account."
    generated = "Your card is frozen now; a new one is on its way to you."
    for text in (operator, generated, ANSWER):
        frames = await _speak(tts, text)
        assert frames and all(isinstance(f, VisemeAudioFrame) for f in frames)
    assert _files(tmp_path) == 1
    assert engine.cached(ANSWER, None) is not None
    assert engine.cached(operator, None) is None and engine.cached(generated, None) is None
    before = len(engine.synthesised)
    await _speak(tts, ANSWER)  # from the cache
    await _speak(tts, operator)  # synthesised again: it was kept nowhere
    assert engine.synthesised[before:] == [operator]


def test_a_new_version_changes_what_is_approved() -> None:
    brain = _Brain(_Retriever(1, _kb(ANSWER)))
    approved = ApprovedSpeech(cast(Brain, brain))
    assert all(approved(text) for text in fixed_texts(brain.retriever.kb))
    edited = ANSWER + " Call us if you need help."
    assert not approved(edited)
    brain.retriever = _Retriever(2, _kb(edited))
    assert approved(edited) and not approved(ANSWER)


async def test_by_default_nothing_is_cached_while_speaking(tmp_path: Path) -> None:
    engine = _Silence(SpeechCache(disk_dir=tmp_path))
    await _speak(AlignedTTS(engine), ANSWER)
    assert _files(tmp_path) == 0 and engine.cached(ANSWER, None) is None
    assert engine.prepare(ANSWER) is True  # the warmer (approved texts only) still fills it
    assert _files(tmp_path) == 1


def test_prune_deletes_every_clip_that_is_not_approved_text(tmp_path: Path) -> None:
    """A cache filled before this rule may hold operator or generated lines: ``warm --prune``."""
    kb = _kb(ANSWER)
    engine = _Silence(SpeechCache(disk_dir=tmp_path))
    engine.prepare("Thanks, I can see the card ending 1112.")
    engine.prepare(ANSWER)
    engine.prepare(ANSWER, SLOW_LENGTH_SCALE)
    assert prune(engine, tmp_path, fixed_texts(kb)) == 1
    assert _files(tmp_path) == 2
    fresh = _Silence(SpeechCache(disk_dir=tmp_path))
    assert fresh.cached(ANSWER, None) is not None and fresh.cached(ANSWER, SLOW_LENGTH_SCALE) is not None
