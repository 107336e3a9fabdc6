"""The conversation as a pipeline stage: final customer turns in, spoken replies out.

A customer's line enters here, as a transcript (``TranscriptionFrame``) or typed
(``InputTextRawFrame``, from ``server.voice.client_messages``), and is masked once
(``mask_pii``, with the previous turn when the customer goes on with a number,
``server.turn_digits``): the store, the gate (``server.voice.gate``), the Brain and the page all get
the masked line. The stage records every customer turn before the Brain runs and the reply
before it is spoken; ``server.voice.heard`` records what the customer actually heard once
the reply's last audio played (the avatar's ``ReplyPlayedFrame``) or it is cut. Replies in
flight are owned tasks, cancelled on interruption.

For the operator's side (``server.voice.takeover.TakeoverControl``) it offers four calls:
``speak_line`` (an operator's line), ``reply`` (a Brain reply, e.g. an approved draft),
``interrupt`` and ``send_event``. The avatar hears from it only through frames.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InputTextRawFrame,
    InterruptionFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pydantic import BaseModel

from server.brain.brain import Brain, BrainReply
from server.brain.memory import Speaker
from server.brain.pii import MaskedText
from server.operator.states import SessionMode
from server.store.store import Store, StoreUnavailable, TurnRecord
from server.tickets.service import TicketSink
from server.turn_digits import PendingDigits
from server.turns import citation_dicts, record_customer_turn, record_reply
from server.voice.events import BotTextEvent, ErrorEvent, StateEvent, TranscriptEvent
from server.voice.frames import (
    BotThinkingFrame,
    HumanRequestFrame,
    PlaybackPositionFrame,
    PlaybackPositionRequestFrame,
    ReplyEndFrame,
    ReplyPlayedFrame,
    SpeechSynthesisFailedFrame,
    TellerErrorFrame,
    TranscriptionFailedFrame,
    event_frame,
)
from server.voice.gate import OpenGate, ReplySpeaker, TurnGate
from server.voice.heard import HeardLog
from server.voice.marks import Marks
from server.voice.streaming import StreamedAnswer

log = logging.getLogger(__name__)

MERGE_WINDOW_S = 3.0
REPEAT_PLEASE = "Sorry, I didn't catch that. Could you say it again, or type your question below?"
NOT_SAVED = (
    "I'm sorry, our records are unavailable for a moment, so I could not take that down. "
    "Please ask again in a minute."
)


class ConversationStage(FrameProcessor):
    """Turns final transcripts and typed text into Brain replies spoken by the avatar."""

    def __init__(
        self,
        *,
        session_id: str,
        brain: Brain,
        store: Store,
        channel: str,
        marks: Marks,
        gate: TurnGate | None = None,
        tickets: TicketSink | None = None,
    ) -> None:
        super().__init__(name="Conversation")
        self.session_id = session_id
        self._brain = brain
        self._store = store
        self._channel = channel
        self._marks = marks
        self._gate: TurnGate = gate or OpenGate()
        self._tickets = tickets
        self._heard = HeardLog(store, session_id)
        self._digits = PendingDigits()  # a number the customer goes on with in the next turn
        self._turn: asyncio.Task[None] | None = None
        self._tts_failed = False
        self._last_text = ""
        self._merge_until = 0.0

    async def open(self) -> None:
        """Create the session's record, so operator lines and hand-offs can be stored from the start."""
        await asyncio.to_thread(self._store.ensure_session, self.session_id, self._channel)

    # ------------------------------------------------------------------ the operator's side
    async def send_event(self, event: BaseModel) -> None:
        """Send a server → client event now."""
        await self.push_frame(event_frame(event))

    async def speak_line(self, line: MaskedText, *, operator: str | None = None) -> int:
        """Speak an operator's (masked) line in the avatar's voice; it is committed first (with the
        operator's user name). Its seq."""
        record = TurnRecord(session_id=self.session_id, speaker="operator", text=line, operator=operator)
        seq = await asyncio.to_thread(self._store.record_turn, record)
        self._gate.operator_said(seq, line)
        await self.send_event(BotTextEvent(text=line, decision="operator", speaker="operator"))
        await self._speak(line, seq)
        return seq

    async def reply(
        self, reply: BrainReply, *, speaker: ReplySpeaker = "bot", operator: str | None = None
    ) -> None:
        """Record ``reply``, show it and speak it; ``speaker`` is ``operator`` for an edited draft,
        ``operator`` the user name of the operator who edited or approved it."""
        if reply.answer is not None:  # worded by the LLM as it is spoken
            await self._reply_streamed(reply)
            return
        seq = await asyncio.to_thread(
            record_reply,
            self._store,
            reply,
            spoken=False,
            speaker=speaker,
            tickets=self._tickets,
            operator=operator,
        )
        await self.send_event(
            BotTextEvent(
                text=reply.text,
                decision=reply.decision.value,
                speaker=speaker,
                citations=citation_dicts(reply),
            )
        )
        await self._gate.bot_said(seq, reply, speaker)
        await self._speak(reply.text, seq)

    async def interrupt(self) -> None:
        """Stop the bot now: cancel the reply in flight and silence audio and mouth (takeover)."""
        await self._interrupted()
        self._last_text = ""
        await self.broadcast_interruption()

    # ------------------------------------------------------------------ frames
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            self._marks.mark("asr_done")
            if frame.text.strip():
                await self._start_turn(frame.text)
            else:
                await self._ask_to_repeat()
        elif isinstance(frame, InputTextRawFrame):  # typed: the reply in flight gives way
            await self._interrupted()
            await self._start_turn(frame.text)
        elif isinstance(frame, HumanRequestFrame):
            await self._asked_for_person()
        elif isinstance(frame, PlaybackPositionFrame):
            await self._heard.played(frame.fraction)
        elif isinstance(frame, ReplyPlayedFrame):
            await self._heard.finished(frame.seq)
        elif isinstance(frame, InterruptionFrame):
            since = self._heard.speaking_since
            if since is not None and time.monotonic() - since < MERGE_WINDOW_S:
                self._merge_until = time.monotonic() + MERGE_WINDOW_S
            await self._interrupted()
            await self.push_frame(frame, direction)
        elif isinstance(frame, BotStoppedSpeakingFrame):  # quiet, perhaps only between sentences
            await self.push_frame(frame, direction)
            await self.send_event(StateEvent(avatar="idle"))
        elif isinstance(frame, BotStartedSpeakingFrame):
            await self.push_frame(frame, direction)
            await self.send_event(StateEvent(avatar="speaking"))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self.push_frame(frame, direction)
            await self.send_event(StateEvent(avatar="listening"))
        elif isinstance(frame, TellerErrorFrame):
            await self._on_error(frame)
            if direction is FrameDirection.UPSTREAM:  # on to the pipeline worker
                await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    # ------------------------------------------------------------------ turns
    async def _start_turn(self, text: str) -> None:
        """A customer pause can end a turn too early; speech that follows at once continues it."""
        in_flight = self._turn is not None and not self._turn.done()
        merged = (in_flight or time.monotonic() < self._merge_until) and bool(self._last_text)
        if merged:
            text = f"{self._last_text} {text}".strip()
        if self._turn is not None and in_flight:
            await self.cancel_task(self._turn)
        self._last_text = text
        self._merge_until = 0.0
        await self.push_frame(BotThinkingFrame())
        await self.send_event(StateEvent(avatar="thinking"))
        self._turn = self.create_task(self._take_turn(text, merged), name="conversation-turn")

    async def _take_turn(self, text: str, merged: bool = False) -> None:
        try:
            await self._answer(text, merged)
        except StoreUnavailable as exc:
            await self._not_saved(exc)

    async def _not_saved(self, exc: StoreUnavailable) -> None:
        """The store stayed down: nothing unsaved was shown as taken or spoken; say so."""
        log.error("a turn could not be saved", extra={"session_id": self.session_id, "op": exc.operation})
        await self.send_event(ErrorEvent(code="store_unavailable", message=NOT_SAVED, retryable=True))
        await self.push_frame(TTSSpeakFrame(text=NOT_SAVED))

    async def _answer(self, text: str, merged: bool = False) -> None:
        line = self._digits.mask(text, repeats_last=merged)  # the one place a customer's line is masked
        masked = line.text
        seq = await asyncio.to_thread(
            record_customer_turn, self._store, self.session_id, masked, self._channel, line.amends
        )
        self._digits.stored(line, seq)
        await self.send_event(TranscriptEvent(text=masked))
        await self._gate.customer_said(seq, masked)
        mode = self._gate.mode
        if mode in (SessionMode.HUMAN, SessionMode.CLOSED):
            self._brain.hear(self.session_id, Speaker.CUSTOMER, masked)
            return  # the operator answers
        defer = mode is SessionMode.BOT  # a generative answer is then streamed by reply()
        reply = await asyncio.to_thread(self._brain.respond, self.session_id, masked, defer_wording=defer)
        self._marks.mark("brain_done")
        if mode is SessionMode.ASSIST:
            self._gate.hold_draft(reply)  # spoken once the operator approves or edits it
            return
        await self.reply(reply)

    async def _asked_for_person(self) -> None:
        if self._gate.mode is not SessionMode.BOT:
            return  # a person is already here (or watching every reply)
        await self._interrupted()
        try:
            await self.reply(await asyncio.to_thread(self._brain.request_handoff, self.session_id))
        except StoreUnavailable as exc:
            await self._not_saved(exc)

    async def _reply_streamed(self, reply: BrainReply) -> None:
        """Speak each guarded sentence as soon as it is ready; record what was said (also on barge-in)."""
        citations = citation_dicts(reply)

        async def say(sentence: str) -> None:
            await self.send_event(BotTextEvent(text=sentence, decision="answer", citations=citations))
            if not self._tts_failed:
                await self.push_frame(TTSSpeakFrame(text=sentence))

        streamed, started = StreamedAnswer(self._brain, reply), time.monotonic()
        seq: int | None = None
        try:
            await streamed.speak(say)
        finally:
            said = streamed.said
            if said.text:
                seq = await asyncio.to_thread(
                    record_reply, self._store, said, spoken=False, tickets=self._tickets
                )
                self._heard.speaking(seq, said.text, started)
                await self._gate.bot_said(seq, said)
        if self._tts_failed:
            await self._heard.finished()
        elif seq is not None:  # behind the last sentence: settled once that one has played
            await self.push_frame(ReplyEndFrame(seq=seq))

    async def _speak(self, text: str, seq: int) -> None:
        """Speak ``text`` (stored as turn ``seq``) in the avatar's voice."""
        self._heard.speaking(seq, text)
        if self._tts_failed:
            await self._heard.finished()
            return
        await self.push_frame(TTSSpeakFrame(text=text))
        await self.push_frame(ReplyEndFrame(seq=seq))

    async def _interrupted(self) -> None:
        """Cancel the turn in flight; the reply being spoken is settled once the avatar says how
        much of it played."""
        if self._turn is not None and not self._turn.done():
            await self.cancel_task(self._turn)
        self._turn = None
        if self._heard.cut():
            await self.push_frame(PlaybackPositionRequestFrame())

    async def _ask_to_repeat(self) -> None:
        await self.send_event(ErrorEvent(code="asr_empty", message=REPEAT_PLEASE, retryable=True))
        await self.push_frame(TTSSpeakFrame(text=REPEAT_PLEASE))

    async def _on_error(self, frame: TellerErrorFrame) -> None:
        if isinstance(frame, TranscriptionFailedFrame):
            await self.send_event(
                ErrorEvent(code=frame.code, message=REPEAT_PLEASE, retryable=frame.retryable)
            )
        elif isinstance(frame, SpeechSynthesisFailedFrame) and not self._tts_failed:
            self._tts_failed = True
            log.error("speech synthesis failed; continuing with subtitles only")
            await self.send_event(
                ErrorEvent(
                    code=frame.code,
                    message="Voice is unavailable; replies are shown as text.",
                    retryable=frame.retryable,
                )
            )
            await self._heard.finished()
