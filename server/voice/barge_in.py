"""Barge-in: customer speech while the avatar talks interrupts everything downstream."""

from __future__ import annotations

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from server.voice.frames import HoldSpeechFrame, ReleaseSpeechFrame
from server.voice.marks import Marks
from server.voice.turn_vad import SpeechOnsetCancelledFrame, SpeechOnsetFrame


class BargeIn(FrameProcessor):
    """Holds the avatar at the first sound of the customer, interrupts once it is speech.

    At a ``SpeechOnsetFrame`` (one voiced VAD window) while the bot speaks, the
    avatar holds its speech (``HoldSpeechFrame``): the customer hears it stop
    within tens of milliseconds instead of after VAD's ``start_secs``. When VAD
    confirms speech, an interruption is broadcast: pipecat cancels the data lane
    of every downstream processor (the reply being decided, the speech being
    synthesised, the avatar's queue and the transport's buffered audio). When
    the onset was a noise, ``ReleaseSpeechFrame`` lets the avatar go on.
    """

    def __init__(self, marks: Marks) -> None:
        super().__init__(name="BargeIn")
        self._marks = marks
        self._bot_speaking = False
        self._held = False
        self.interruptions = 0
        self.holds = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._marks.mark("vad_stop")
        elif isinstance(frame, InterruptionFrame):  # from upstream (an operator's cut): the avatar is cleared
            self._held = False
        await self.push_frame(frame, direction)
        if isinstance(frame, SpeechOnsetFrame) and self._bot_speaking and not self._held:
            self._held = True
            self.holds += 1
            self._marks.mark("hold")
            await self.push_frame(HoldSpeechFrame())
        elif isinstance(frame, SpeechOnsetCancelledFrame) and self._held:
            self._held = False
            await self.push_frame(ReleaseSpeechFrame())
        elif isinstance(frame, VADUserStartedSpeakingFrame) and (self._bot_speaking or self._held):
            self.interruptions += 1
            self._marks.mark("interrupt")
            self._bot_speaking = self._held = False
            await self.broadcast_interruption()
