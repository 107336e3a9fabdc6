"""The conversation as a pipeline stage: final customer turns in, spoken replies out.

It records every customer turn before the Brain runs, the reply before it is
spoken, and — once playback ends or is cut by a barge-in — what the customer
actually heard. Replies in flight are owned tasks, cancelled on interruption.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputTransportMessageUrgentFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pydantic import BaseModel

from server.api.feedback import FeedbackStore
from server.brain.brain import Brain, BrainReply
from server.brain.pii import mask_pii
from server.store.store import Store
from server.turns import citation_dicts, record_customer_turn, record_reply
from server.voice.events import (
    BadClientMessage,
    BotTextEvent,
    ErrorEvent,
    FeedbackMessage,
    HumanMessage,
    SpeechRateMessage,
    StateEvent,
    TextMessage,
    TranscriptEvent,
    parse_client_message,
)
from server.voice.marks import Marks

log = logging.getLogger(__name__)

MERGE_WINDOW_S = 3.0
REPEAT_PLEASE = "Sorry, I didn't catch that. Could you say it again, or type your question below?"


def heard_part(text: str, fraction: float) -> str:
    """The words of ``text`` heard when ``fraction`` of its audio played (cut at a word)."""
    if fraction >= 0.999:
        return text
    cut = int(len(text) * max(fraction, 0.0))
    if cut <= 0:
        return ""
    space = text.rfind(" ", 0, cut + 1)
    return text[: space if space > 0 else cut].rstrip(" ,;:")


@dataclass
class _Speaking:
    seq: int
    text: str
    started: float


class ConversationStage(FrameProcessor):
    """Turns final transcripts and typed text into Brain replies spoken by the avatar."""

    def __init__(
        self,
        *,
        session_id: str,
        brain: Brain,
        store: Store,
        channel: str,
        played_fraction: Callable[[], float],
        marks: Marks,
        on_thinking: Callable[[], None] = lambda: None,
        on_speech_rate: Callable[[bool], None] = lambda _slow: None,
    ) -> None:
        super().__init__(name="Conversation")
        self.session_id = session_id
        self._brain = brain
        self._store = store
        self._channel = channel
        self._played_fraction = played_fraction
        self._marks = marks
        self._on_thinking = on_thinking
        self._on_speech_rate = on_speech_rate
        self._turn: asyncio.Task[None] | None = None
        self._speaking: _Speaking | None = None
        self._tts_failed = False
        self._last_text = ""
        self._merge_until = 0.0

    async def send_event(self, event: BaseModel) -> None:
        await self.push_frame(OutputTransportMessageUrgentFrame(message=event.model_dump()))

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self._marks.mark("asr_done")
            if frame.text.strip():
                await self._start_turn(frame.text)
            else:
                await self._ask_to_repeat()
        elif isinstance(frame, InputTransportMessageFrame):
            await self._on_client_message(frame.message)
        elif isinstance(frame, InterruptionFrame):
            if self._speaking is not None and time.monotonic() - self._speaking.started < MERGE_WINDOW_S:
                self._merge_until = time.monotonic() + MERGE_WINDOW_S
            await self._interrupted()
            await self.push_frame(frame, direction)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            await self._settle_spoken()
            await self.push_frame(frame, direction)
            await self.send_event(StateEvent(avatar="idle"))
        elif isinstance(frame, BotStartedSpeakingFrame):
            await self.push_frame(frame, direction)
            await self.send_event(StateEvent(avatar="speaking"))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self.push_frame(frame, direction)
            await self.send_event(StateEvent(avatar="listening"))
        elif isinstance(frame, ErrorFrame):
            await self._on_error(frame)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _on_client_message(self, raw: object) -> None:
        try:
            message = parse_client_message(raw)
        except BadClientMessage as exc:
            await self.send_event(ErrorEvent(code="bad_message", message=str(exc)))
            return
        if isinstance(message, TextMessage):
            await self._interrupted()
            await self._start_turn(message.text)
        elif isinstance(message, HumanMessage):
            await self._interrupted()
            await self._reply(await asyncio.to_thread(self._brain.request_handoff, self.session_id))
        elif isinstance(message, FeedbackMessage):
            feedback = FeedbackStore(self._store.engine)
            await asyncio.to_thread(feedback.add, self.session_id, message.rating, None)
        elif isinstance(message, SpeechRateMessage):
            self._on_speech_rate(message.slow)

    async def _start_turn(self, text: str) -> None:
        """A customer pause can end a turn too early; speech that follows at once continues it."""
        in_flight = self._turn is not None and not self._turn.done()
        if in_flight or time.monotonic() < self._merge_until:
            text = f"{self._last_text} {text}".strip()
        if self._turn is not None and in_flight:
            await self.cancel_task(self._turn)
        self._last_text = text
        self._merge_until = 0.0
        self._on_thinking()
        await self.send_event(StateEvent(avatar="thinking"))
        self._turn = self.create_task(self._take_turn(text), name="conversation-turn")

    async def _take_turn(self, text: str) -> None:
        await asyncio.to_thread(record_customer_turn, self._store, self.session_id, text, self._channel)
        await self.send_event(TranscriptEvent(text=mask_pii(text)))
        reply = await asyncio.to_thread(self._brain.respond, self.session_id, text)
        self._marks.mark("brain_done")
        await self._reply(reply)

    async def _reply(self, reply: BrainReply) -> None:
        seq = await asyncio.to_thread(record_reply, self._store, reply, spoken=False)
        await self.send_event(
            BotTextEvent(text=reply.text, decision=reply.decision.value, citations=citation_dicts(reply))
        )
        await self.speak(reply.text, seq)

    async def speak(self, text: str, seq: int) -> None:
        """Speak ``text`` (stored as turn ``seq``) in the avatar's voice."""
        self._speaking = _Speaking(seq=seq, text=text, started=time.monotonic())
        if self._tts_failed:
            await self._settle_spoken()
            return
        await self.push_frame(TTSSpeakFrame(text=text))

    async def _interrupted(self) -> None:
        if self._turn is not None and not self._turn.done():
            await self.cancel_task(self._turn)
        self._turn = None
        await self._settle_spoken(self._played_fraction())

    async def _settle_spoken(self, played_fraction: float = 1.0) -> None:
        """Record what the customer heard of the reply being spoken (off the event loop)."""
        if self._speaking is not None:
            speaking, self._speaking = self._speaking, None
            heard = heard_part(speaking.text, played_fraction)
            await asyncio.to_thread(self._store.set_spoken, self.session_id, speaking.seq, heard)

    async def _ask_to_repeat(self) -> None:
        await self.send_event(ErrorEvent(code="asr_empty", message=REPEAT_PLEASE, retryable=True))
        await self.push_frame(TTSSpeakFrame(text=REPEAT_PLEASE))

    async def _on_error(self, frame: ErrorFrame) -> None:
        if "speech synthesis" in frame.error and not self._tts_failed:
            self._tts_failed = True
            log.error("speech synthesis failed; continuing with subtitles only")
            await self.send_event(
                ErrorEvent(code="tts_down", message="Voice is unavailable; replies are shown as text.")
            )
            await self._settle_spoken()
        elif "transcription failed" in frame.error:
            log.error("speech recognition failed for one turn")
            await self.send_event(ErrorEvent(code="asr_failed", message=REPEAT_PLEASE, retryable=True))
