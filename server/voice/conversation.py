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
from dataclasses import dataclass, replace
from typing import Literal

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
from server.brain.memory import Speaker, Turn
from server.brain.pii import mask_pii
from server.operator.states import SessionMode
from server.store.store import Store, TurnRecord
from server.turns import citation_dicts, record_customer_turn, record_reply
from server.voice.events import (
    BadClientMessage,
    BotTextEvent,
    ErrorEvent,
    FeedbackMessage,
    HumanMessage,
    SessionEvent,
    SpeechRateMessage,
    StateEvent,
    TextMessage,
    TranscriptEvent,
    parse_client_message,
)
from server.voice.gate import OpenGate, TurnGate
from server.voice.marks import Marks
from server.voice.streaming import StreamedAnswer

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
        gate: TurnGate | None = None,
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
        self.gate: TurnGate = gate or OpenGate()
        self._turn: asyncio.Task[None] | None = None
        self._speaking: _Speaking | None = None
        self._tts_failed = False
        self._last_text = ""
        self._merge_until = 0.0

    async def open(self) -> None:
        """Create the session's record, so operator lines and hand-offs can be stored from the start."""
        await asyncio.to_thread(self._store.ensure_session, self.session_id, self._channel)

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
            if self.gate.mode is not SessionMode.BOT:
                return  # a person is already here (or watching every reply)
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
        seq = await asyncio.to_thread(record_customer_turn, self._store, self.session_id, text, self._channel)
        masked = mask_pii(text)
        await self.send_event(TranscriptEvent(text=masked))
        await self.gate.customer_said(seq, masked)
        mode = self.gate.mode
        if mode in (SessionMode.HUMAN, SessionMode.CLOSED):
            self._brain.memory.get(self.session_id).add(Turn(Speaker.CUSTOMER, masked))
            return  # the operator answers
        defer = mode is SessionMode.BOT  # a generative answer is then streamed by _reply
        reply = await asyncio.to_thread(self._brain.respond, self.session_id, text, defer_wording=defer)
        self._marks.mark("brain_done")
        if mode is SessionMode.ASSIST:
            self.gate.hold_draft(reply)  # spoken once the operator approves or edits it
            return
        await self._reply(reply)

    async def _reply(self, reply: BrainReply, *, speaker: Literal["bot", "operator"] = "bot") -> None:
        if reply.answer is not None:  # worded by the LLM as it is spoken
            await self._reply_streamed(reply)
            return
        seq = await asyncio.to_thread(record_reply, self._store, reply, spoken=False, speaker=speaker)
        await self.send_event(
            BotTextEvent(
                text=reply.text,
                decision=reply.decision.value,
                speaker=speaker,
                citations=citation_dicts(reply),
            )
        )
        await self.gate.bot_said(seq, reply, speaker)
        await self.speak(reply.text, seq)

    async def _reply_streamed(self, reply: BrainReply) -> None:
        """Speak each guarded sentence as soon as it is ready; record what was said (also on barge-in)."""
        citations = citation_dicts(reply)

        async def say(sentence: str) -> None:
            await self.send_event(BotTextEvent(text=sentence, decision="answer", citations=citations))
            if not self._tts_failed:
                await self.push_frame(TTSSpeakFrame(text=sentence))

        streamed, started = StreamedAnswer(self._brain, reply), time.monotonic()
        try:
            await streamed.speak(say)
        finally:
            said = streamed.said
            if said.text:
                seq = await asyncio.to_thread(record_reply, self._store, said, spoken=False)
                self._speaking = _Speaking(seq=seq, text=said.text, started=started)
                await self.gate.bot_said(seq, said)
        if self._tts_failed:
            await self._settle_spoken()

    async def say_as_operator(self, text: str) -> int:
        """Speak an operator's line in the avatar's voice; it is committed (masked) first."""
        masked = mask_pii(text)
        record = TurnRecord(session_id=self.session_id, speaker="operator", text=masked)
        seq = await asyncio.to_thread(self._store.record_turn, record)
        self._brain.memory.get(self.session_id).add(Turn(Speaker.OPERATOR, masked))
        self.gate.operator_said(seq, masked)
        await self.send_event(BotTextEvent(text=masked, decision="operator", speaker="operator"))
        await self.speak(masked, seq)
        return seq

    async def speak_draft(self, reply: BrainReply, text: str | None) -> None:
        """Speak an approved draft, or the operator's edit of it (recorded as the operator's)."""
        if text is None:
            await self._reply(reply)
            return
        masked = mask_pii(text)
        self.drop_draft(reply)
        self._brain.memory.get(self.session_id).add(Turn(Speaker.OPERATOR, masked))
        await self._reply(replace(reply, text=masked), speaker="operator")

    def drop_draft(self, reply: BrainReply) -> None:
        """A draft the operator rejected or rewrote was never said: the Brain forgets it."""
        self._brain.retract(self.session_id, reply.text)

    async def cut(self) -> None:
        """Stop the bot now: cancel the reply in flight and silence audio and mouth (takeover)."""
        await self._interrupted()
        self._last_text = ""
        await self.broadcast_interruption()

    async def notify(self, state: str, notice: str | None = None) -> None:
        await self.send_event(SessionEvent(session_id=self.session_id, state=state, notice=notice))

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
