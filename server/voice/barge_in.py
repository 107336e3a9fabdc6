"""Barge-in: customer speech while the avatar talks interrupts everything downstream."""

from __future__ import annotations

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from server.voice.marks import Marks


class BargeIn(FrameProcessor):
    """Broadcasts an interruption when the customer starts speaking over the bot.

    pipecat's interruption cancels the data lane of every downstream processor:
    the reply being decided, the speech being synthesised, the avatar's queue
    and the transport's buffered audio.
    """

    def __init__(self, marks: Marks) -> None:
        super().__init__(name="BargeIn")
        self._marks = marks
        self._bot_speaking = False
        self.interruptions = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._marks.mark("vad_stop")
        await self.push_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame) and self._bot_speaking:
            self.interruptions += 1
            self._marks.mark("interrupt")
            self._bot_speaking = False
            await self.broadcast_interruption()
