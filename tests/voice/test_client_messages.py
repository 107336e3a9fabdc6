"""Client messages become the frames of the stages that act on them; feedback is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipecat.frames.frames import (
    Frame,
    InputTextRawFrame,
    InputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TTSSpeakFrame,
    TTSUpdateSettingsFrame,
)
from pipecat.tests.utils import run_test

from server.store.feedback import FeedbackStore
from server.store.store import Store
from server.voice.client_messages import ClientMessageStage
from server.voice.feedback import SessionFeedback
from server.voice.frames import HumanRequestFrame, SpeechSynthesisFailedFrame
from server.voice.speech.cache import SpeechPiece
from server.voice.tts import SLOW_LENGTH_SCALE, AlignedTTS, AlignedTTSSettings


class _Ratings:
    def __init__(self) -> None:
        self.given: list[str] = []

    async def rate(self, rating: str) -> None:
        self.given.append(rating)


async def test_each_message_becomes_a_frame_and_a_bad_one_an_error_event() -> None:
    ratings = _Ratings()
    messages: list[object] = [
        {"type": "text", "text": "How do I change my PIN?"},
        '{"type": "human"}',
        {"type": "speech_rate", "slow": True},
        {"type": "feedback", "rating": "down"},
        "{not json",
        "x" * 5_000,
        {"type": "launch_missiles"},
    ]
    down, _ = await run_test(
        ClientMessageStage(ratings),  # type: ignore[arg-type]
        frames_to_send=[InputTransportMessageFrame(message=m) for m in messages],
    )
    assert not any(isinstance(f, InputTransportMessageFrame) for f in down)
    typed = [f for f in down if isinstance(f, InputTextRawFrame)]
    assert [f.text for f in typed] == ["How do I change my PIN?"]
    assert sum(isinstance(f, HumanRequestFrame) for f in down) == 1
    rate = [f for f in down if isinstance(f, TTSUpdateSettingsFrame)]
    assert len(rate) == 1 and isinstance(rate[0].delta, AlignedTTSSettings) and rate[0].delta.slow is True
    errors = [f.message for f in down if isinstance(f, OutputTransportMessageUrgentFrame)]
    assert [e["code"] for e in errors] == ["bad_message"] * 3
    assert ratings.given == ["down"]


async def test_session_feedback_is_stored(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'f.db'}")
    store.ensure_session("s1", "voice")
    feedback = SessionFeedback(store.engine, "s1")
    await feedback.rate("up")
    await feedback.rate("down")
    rows = await asyncio.to_thread(FeedbackStore(store.engine).all)
    assert [(r.session_id, r.rating) for r in rows] == [("s1", "up"), ("s1", "down")]
    store.close()


class _Engine:
    """A speech engine that notes the length scale of each piece, or fails."""

    sample_rate = 16_000

    def __init__(self, *, fails: bool = False) -> None:
        self.fails = fails
        self.scales: list[float | None] = []

    def cached(self, _text: str, _scale: float | None) -> None:
        return None

    def synthesize_piece(self, _text: str, scale: float | None) -> SpeechPiece:
        if self.fails:
            raise RuntimeError("voice model crashed")
        self.scales.append(scale)
        return SpeechPiece(pcm=bytes(3_200), visemes=None)

    def store(self, *_args: object) -> None:
        return None


async def _speak(engine: _Engine, frames: list[Frame]) -> tuple[list[Frame], list[Frame]]:
    down, up = await run_test(AlignedTTS(engine), frames_to_send=frames)  # type: ignore[arg-type]
    return list(down), list(up)


async def test_the_speech_rate_frame_slows_the_tts_and_a_failure_is_typed() -> None:
    engine = _Engine()
    await _speak(
        engine,
        [
            TTSSpeakFrame(text="Hello."),
            TTSUpdateSettingsFrame(delta=AlignedTTSSettings(slow=True)),
            TTSSpeakFrame(text="Slowly now."),
        ],
    )
    assert engine.scales == [None, SLOW_LENGTH_SCALE]
    _, up = await _speak(_Engine(fails=True), [TTSSpeakFrame(text="Hello.")])
    failed = [f for f in up if isinstance(f, SpeechSynthesisFailedFrame)]
    assert len(failed) == 1 and failed[0].code == "tts_down" and not failed[0].retryable
