"""A real Brain over a retriever that knows nothing, and a conversation pipeline without audio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    Frame,
    OutputTransportMessageUrgentFrame,
    TTSSpeakFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from knowledge.concepts import ConceptCheck
from knowledge.lexicon import LexiconMatcher
from knowledge.retrieval import Retrieval
from knowledge.schema import Lexicon
from server.brain.brain import Brain
from server.brain.memory import MemoryStore
from server.brain.policy import PolicyConfig
from server.voice.frames import PlaybackPositionFrame, PlaybackPositionRequestFrame, ReplyEndFrame


@dataclass
class EmptyRetriever:
    """Finds nothing: every question is refused (or handed off when the customer asks for a person)."""

    version: int = 1
    asked: list[str] = field(default_factory=list)
    kb: Any = field(
        default_factory=lambda: SimpleNamespace(name="Demo Bank", products=[SimpleNamespace(name="Cards")])
    )
    lexicon: LexiconMatcher = field(default_factory=lambda: LexiconMatcher(Lexicon()))
    concepts: ConceptCheck = field(default_factory=lambda: ConceptCheck([], LexiconMatcher(Lexicon())))

    def ref(self, _problem_id: str) -> None:
        return None

    def retrieve(self, text: str, **_kwargs: Any) -> Retrieval:
        self.asked.append(text)
        return Retrieval([], 0.0, frozenset(), self.version)


def empty_brain() -> tuple[Brain, EmptyRetriever]:
    """Without the domain check, a line nothing answers is refused (not handed to a person)."""
    retriever = EmptyRetriever()
    brain = Brain(retriever, PolicyConfig(check_domain=False), MemoryStore())  # type: ignore[arg-type]
    return brain, retriever


class AvatarStandIn(FrameProcessor):
    """The end of a test pipeline: collects what the conversation sends on, and answers its
    playback-position requests as the avatar would (``played`` of the speech was heard)."""

    def __init__(self, played: float = 1.0) -> None:
        super().__init__(name="avatar-stand-in")
        self.played = played
        self.frames: list[Frame] = []
        self.arrived = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            async with self.arrived:
                self.frames.append(frame)
                self.arrived.notify_all()
        if isinstance(frame, PlaybackPositionRequestFrame):
            await self.push_frame(PlaybackPositionFrame(fraction=self.played), FrameDirection.UPSTREAM)
            return
        await self.push_frame(frame, direction)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [
            f.message
            for f in self.frames
            if isinstance(f, OutputTransportMessageUrgentFrame) and f.message.get("type") == kind
        ]

    def spoken(self) -> list[str]:
        return [f.text for f in self.frames if isinstance(f, TTSSpeakFrame)]

    def reply_ends(self) -> list[int]:
        """The seqs of the replies the conversation said were complete (``ReplyEndFrame``)."""
        return [f.seq for f in self.frames if isinstance(f, ReplyEndFrame)]

    async def went_quiet(self) -> None:
        """The output reports the bot stopped speaking (``BotStoppedSpeakingFrame`` upstream), and
        the conversation handled it: its ``idle`` event came back. Frames sent up before it were
        handled before it (frames of a kind keep their order), so they are settled too."""
        idle = len([e for e in self.events("state") if e["avatar"] == "idle"])
        await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
        await self.wait_for(lambda: len([e for e in self.events("state") if e["avatar"] == "idle"]) > idle)

    async def wait_for(self, found: Any) -> None:
        """Until ``found()`` is true of the frames seen so far (20 s at most)."""
        async with asyncio.timeout(20), self.arrived:
            await self.arrived.wait_for(found)


@contextlib.asynccontextmanager
async def running(stage: FrameProcessor, end: FrameProcessor) -> AsyncIterator[PipelineWorker]:
    """``stage`` → ``end`` in a running pipeline worker."""
    worker = PipelineWorker(
        Pipeline([stage, end]), params=PipelineParams(), enable_rtvi=False, check_dangling_tasks=False
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
    async def _started(_worker: Any, _frame: Any) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    run = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(started.wait(), 20)
        yield worker
    finally:
        await worker.cancel()
        await run
