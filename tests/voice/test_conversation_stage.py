"""The conversation stage without audio: a line is masked once where it enters; errors are typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    InputTextRawFrame,
    InterruptionFrame,
    OutputTransportMessageUrgentFrame,
    TranscriptionFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import run_test

from server.brain import pii
from server.brain.memory import Speaker
from server.store.store import Store
from server.voice.conversation import ConversationStage
from server.voice.frames import (
    BotThinkingFrame,
    PlaybackPositionRequestFrame,
    ReplyPlayedFrame,
    SpeechSynthesisFailedFrame,
    TranscriptionFailedFrame,
)
from server.voice.heard import heard_part
from server.voice.marks import Marks
from tests.voice.stubs import AvatarStandIn, empty_brain, running

CARD = "4111 1111 1111 1111"
LINE = f"my card {CARD} has not arrived, call me on 07700 900123"
MASKED = "my card [card ending 1111] has not arrived, call me on [phone]"


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store.from_url(f"sqlite:///{tmp_path / 'c.db'}")


def _stage(store: Store, session_id: str = "c1") -> ConversationStage:
    brain, _ = empty_brain()
    return ConversationStage(session_id=session_id, brain=brain, store=store, channel="voice", marks=Marks())


async def test_a_customer_line_is_masked_once_and_stored_masked(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned: list[str] = []
    find = pii._find

    def counting(text: str) -> list[tuple[pii.PiiSpan, str]]:
        scanned.append(text)
        return find(text)

    monkeypatch.setattr(pii, "_find", counting)
    brain, retriever = empty_brain()
    stage = ConversationStage(session_id="c1", brain=brain, store=store, channel="voice", marks=Marks())
    end = AvatarStandIn()
    async with running(stage, end) as worker:
        await worker.queue_frame(TranscriptionFrame(text=LINE, user_id="c", timestamp=""))
        await end.wait_for(end.spoken)
    assert [text for text in scanned if text in (LINE, MASKED)] == [LINE]  # the stage's one scan
    assert end.events("transcript")[0]["text"] == MASKED
    assert any(isinstance(f, BotThinkingFrame) for f in end.frames)  # the avatar thinks
    turns = store.transcript("c1")
    assert next((t.speaker, t.text) for t in turns) == ("customer", MASKED)
    assert retriever.asked == [MASKED]  # the Brain worked on the masked line
    memory = brain.memory.get("c1").turns
    assert memory[0].speaker is Speaker.CUSTOMER and memory[0].text == MASKED
    assert all(CARD not in t.text and "900123" not in t.text for t in turns)


async def test_typed_text_cuts_the_reply_and_the_avatar_says_how_much_was_heard(store: Store) -> None:
    stage = _stage(store, "c2")
    end = AvatarStandIn(played=0.5)
    async with running(stage, end) as worker:
        await stage.open()
        await worker.queue_frame(InputTextRawFrame(text="hello there"))
        await end.wait_for(lambda: len(end.spoken()) == 1)
        await worker.queue_frame(InputTextRawFrame(text="what about cards?"))
        await end.wait_for(lambda: len(end.spoken()) == 2)
    first = next(t for t in store.transcript("c2") if t.speaker == "bot")
    assert first.spoken_text == heard_part(first.text, 0.5)


async def test_the_bot_going_quiet_between_sentences_is_not_the_end_of_the_reply(store: Store) -> None:
    # under load speech falls behind real time: the output goes quiet between two sentences and
    # reports the bot stopped; the customer barges in after that, having heard only 30% of it
    stage = _stage(store, "c3")
    end = AvatarStandIn(played=0.3)
    async with running(stage, end) as worker:
        await stage.open()
        await worker.queue_frame(InputTextRawFrame(text="hello there"))
        await end.wait_for(end.reply_ends)
        await end.went_quiet()
        await worker.queue_frame(InterruptionFrame())
        await end.wait_for(lambda: any(isinstance(f, InterruptionFrame) for f in end.frames))
        await end.went_quiet()  # the playback position sent up before it is recorded
    assert sum(isinstance(f, PlaybackPositionRequestFrame) for f in end.frames) == 1
    reply = next(t for t in store.transcript("c3") if t.speaker == "bot")
    assert reply.text.count(". ") >= 1  # more than one sentence
    assert reply.spoken_text == heard_part(reply.text, 0.3) and reply.spoken_text != reply.text


async def test_a_reply_whose_last_audio_played_is_recorded_whole(store: Store) -> None:
    stage = _stage(store, "c4")
    end = AvatarStandIn(played=0.3)
    async with running(stage, end) as worker:
        await stage.open()
        await worker.queue_frame(InputTextRawFrame(text="hello there"))
        await end.wait_for(end.reply_ends)
        [seq] = end.reply_ends()  # pushed behind the reply's speech
        await end.went_quiet()
        assert next(t for t in store.transcript("c4") if t.speaker == "bot").spoken_text is None
        await end.push_frame(ReplyPlayedFrame(seq=seq + 1), FrameDirection.UPSTREAM)  # not this reply
        await end.went_quiet()
        assert next(t for t in store.transcript("c4") if t.speaker == "bot").spoken_text is None
        await end.push_frame(ReplyPlayedFrame(seq=seq), FrameDirection.UPSTREAM)  # its last audio played
        await end.went_quiet()
        await worker.queue_frame(InterruptionFrame())  # a barge-in now cuts nothing
        await end.wait_for(lambda: any(isinstance(f, InterruptionFrame) for f in end.frames))
    assert not any(isinstance(f, PlaybackPositionRequestFrame) for f in end.frames)
    reply = next(t for t in store.transcript("c4") if t.speaker == "bot")
    assert reply.seq == seq and reply.spoken_text == reply.text


async def test_errors_are_matched_by_type_not_by_their_text(store: Store) -> None:
    down, up = await run_test(
        _stage(store),
        frames_to_send=[
            ErrorFrame(error="speech synthesis failed: an untyped error is not a TTS failure"),
            SpeechSynthesisFailedFrame(error="piper crashed"),
            SpeechSynthesisFailedFrame(error="piper crashed again"),  # told once
        ],
        frames_to_send_direction=FrameDirection.UPSTREAM,
    )
    events = [f.message for f in down if isinstance(f, OutputTransportMessageUrgentFrame)]
    assert [(e["code"], e["retryable"]) for e in events] == [("tts_down", False)]
    assert sum(isinstance(f, SpeechSynthesisFailedFrame) for f in up) == 2  # on to the worker

    down, _ = await run_test(
        _stage(store), frames_to_send=[TranscriptionFailedFrame(error="transcription failed: boom")]
    )
    events = [f.message for f in down if isinstance(f, OutputTransportMessageUrgentFrame)]
    assert [(e["code"], e["retryable"]) for e in events] == [("asr_failed", True)]
    assert not any(isinstance(f, ErrorFrame) for f in down)  # the customer was told; it stops here
