"""Voice path, generative mode: guarded sentences go to TTS one by one; a barge-in stops the stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    OutputTransportMessageUrgentFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
)
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from server.brain.llm import ChatClient, GenerativeWriter
from server.brain.memory import Speaker
from server.runtime import Runtime
from server.voice.conversation import ConversationStage
from server.voice.frames import (
    PlaybackPositionFrame,
    PlaybackPositionRequestFrame,
    ReplyEndFrame,
)
from server.voice.heard import heard_part
from server.voice.marks import Marks
from tests.llm.conftest import FakeLlm, smollm2_config
from tests.voice.stubs import running

QUESTION = "My card has still not arrived, what should I do?"  # an ANSWER: card_arrival
WAIT_S = 300.0


class TtsSink(FrameProcessor):
    """Collects the TTS frames the conversation pushes, with when they arrived; stands in for the
    avatar, which says ``played`` of the speech was heard when a reply is cut."""

    def __init__(self, played: float) -> None:
        super().__init__(name="tts-sink")
        self.played = played
        self.spoken: list[tuple[float, str]] = []
        self.first = asyncio.Event()
        self.order: list[Frame] = []  # the speech and reply ends, as they came
        self.ended = asyncio.Event()
        self.interrupted = asyncio.Event()
        self.idle = asyncio.Event()  # the conversation sent an idle state event

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSSpeakFrame):
            self.spoken.append((time.monotonic(), frame.text))
            self.first.set()
        if isinstance(frame, (TTSSpeakFrame, ReplyEndFrame)):
            self.order.append(frame)
            if isinstance(frame, ReplyEndFrame):
                self.ended.set()
        if isinstance(frame, InterruptionFrame):
            self.interrupted.set()
        if isinstance(frame, OutputTransportMessageUrgentFrame) and frame.message.get("avatar") == "idle":
            self.idle.set()
        if isinstance(frame, PlaybackPositionRequestFrame):
            await self.push_frame(PlaybackPositionFrame(fraction=self.played), FrameDirection.UPSTREAM)
            return
        await self.push_frame(frame, direction)


class TimedClient(ChatClient):
    """The real client, noting when the server's stream ended."""

    done_at: float | None = None

    async def astream(self, messages: list[dict[str, str]], **kwargs: Any) -> AsyncGenerator[str, None]:
        async with contextlib.aclosing(super().astream(messages, **kwargs)) as chunks:
            async for chunk in chunks:
                yield chunk
        self.done_at = time.monotonic()


@contextlib.asynccontextmanager
async def conversation(runtime: Runtime, session_id: str, played: float) -> AsyncIterator[
    tuple[PipelineWorker, TtsSink]
]:  # fmt: skip
    stage = ConversationStage(
        session_id=session_id,
        brain=runtime.brain,
        store=runtime.store,
        channel="voice",
        marks=Marks(),
    )
    sink = TtsSink(played)
    async with running(stage, sink) as worker:
        yield worker, sink


async def _bot_row(runtime: Runtime, session_id: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        rows = [r for r in runtime.store.transcript(session_id) if r.speaker == "bot"]
        if rows:
            return rows[-1]
        await asyncio.sleep(0.1)
    raise AssertionError("the reply was never recorded")


def test_smollm2_first_sentence_is_spoken_before_the_answer_is_generated(
    runtime: Runtime, smollm2_url: str
) -> None:
    # ordering, not latency, is under test: a generous budget keeps a loaded machine from falling back
    config = smollm2_config(smollm2_url, max_tokens=96, first_token_budget_ms=120_000, timeout_s=240)
    client = TimedClient(config)
    writer = runtime.brain.writer = GenerativeWriter(client)

    async def run() -> None:
        async with conversation(runtime, "stream-1", 1.0) as (worker, sink):
            await worker.queue_frame(TranscriptionFrame(text=QUESTION, user_id="c", timestamp=""))
            row = await _bot_row(runtime, "stream-1")
            assert client.done_at is not None and sink.spoken
            assert sink.spoken[0][0] < client.done_at  # the avatar spoke before generation ended
            assert row.text == " ".join(text for _, text in sink.spoken) and row.decision == "answer"
            memory = runtime.brain.memory.get("stream-1").turns
            assert memory[-1].speaker is Speaker.BOT and memory[-1].text == row.text
        await client.aclose()

    asyncio.run(run())
    assert writer.stats.snapshot()["answers"] == 1


def test_deferred_wording_calls_no_llm_and_carries_the_request(runtime: Runtime, fake_llm: FakeLlm) -> None:
    runtime.brain.writer = GenerativeWriter(fake_llm.client())
    reply = runtime.brain.respond("defer-1", QUESTION, defer_wording=True)
    assert reply.answer is not None and reply.text == reply.answer.approved
    assert [r.problem.id for r in reply.answer.cited] == ["card_arrival"]
    assert fake_llm.script.requests == []
    refused = runtime.brain.respond("defer-2", "Who won the football last night?", defer_wording=True)
    assert refused.answer is None


def test_barge_in_cancels_the_stream_and_records_what_was_said(runtime: Runtime, fake_llm: FakeLlm) -> None:
    fake_llm.script.chunks = ["You can follow your card in Card → Track delivery. "] + [
        "Thanks for waiting. "
    ] * 30 + ["NEVER-SPOKEN."]  # fmt: skip
    fake_llm.script.chunk_delay_s = 0.25
    client = fake_llm.client(timeout_s=60)
    runtime.brain.writer = GenerativeWriter(client)

    async def run() -> None:
        async with conversation(runtime, "stream-2", 0.5) as (worker, sink):
            await worker.queue_frame(TranscriptionFrame(text=QUESTION, user_id="c", timestamp=""))
            await asyncio.wait_for(sink.first.wait(), 30)
            await worker.queue_frame(InterruptionFrame())
            assert await asyncio.to_thread(fake_llm.script.disconnected.wait, 10)  # HTTP stream closed
            row = await _bot_row(runtime, "stream-2")
            said = " ".join(text for _, text in sink.spoken)
            assert row.text == said and "NEVER-SPOKEN" not in said
            assert row.spoken_text == heard_part(said, 0.5)  # settled by the barge-in
            assert len(fake_llm.script.requests) == 1
            assert runtime.brain.memory.get("stream-2").turns[-1].text == said
        await client.aclose()

    asyncio.run(run())


def test_a_streamed_reply_ends_behind_its_last_sentence_and_quiet_is_not_its_end(
    runtime: Runtime, fake_llm: FakeLlm
) -> None:
    fake_llm.script.chunks = ["You can follow your card in Card → Track delivery. "] + [
        "Thanks for waiting. "
    ] * 3  # fmt: skip
    client = fake_llm.client(timeout_s=60)
    runtime.brain.writer = GenerativeWriter(client)

    async def run() -> None:
        async with conversation(runtime, "stream-3", 0.5) as (worker, sink):
            await worker.queue_frame(TranscriptionFrame(text=QUESTION, user_id="c", timestamp=""))
            await asyncio.wait_for(sink.ended.wait(), 30)
            row = [r for r in runtime.store.transcript("stream-3") if r.speaker == "bot"][-1]
            *sentences, last = sink.order  # one end, behind the last sentence, naming the reply
            assert len(sentences) > 1 and all(isinstance(f, TTSSpeakFrame) for f in sentences)
            assert isinstance(last, ReplyEndFrame) and last.seq == row.seq
            # the output went quiet between sentences, then the customer barged in
            await sink.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
            await worker.queue_frame(InterruptionFrame())
            await asyncio.wait_for(sink.interrupted.wait(), 30)
            sink.idle.clear()  # frames of a kind keep their order: once this one is handled, so is
            await sink.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)  # the position
            await asyncio.wait_for(sink.idle.wait(), 30)
        await client.aclose()
        row = [r for r in runtime.store.transcript("stream-3") if r.speaker == "bot"][-1]
        assert row.spoken_text == heard_part(row.text, 0.5)  # what was heard, not all of it

    asyncio.run(run())
