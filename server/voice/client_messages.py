"""The customer page's messages (data channel or websocket text), turned into pipeline frames.

``ClientMessageStage`` sits in front of the conversation and reads every
``InputTransportMessageFrame`` (``server.voice.events.parse_client_message``):

- ``text {text}`` → ``InputTextRawFrame`` (typed text, a turn for the conversation)
- ``human {}`` → ``HumanRequestFrame`` (the conversation decides whether to hand off)
- ``speech_rate {slow}`` → ``TTSUpdateSettingsFrame`` (the TTS speaks slower or at its rate)
- ``feedback {rating}`` → stored for the session (``SessionFeedback``)
- anything else → an ``error {code: "bad_message"}`` event back to the page; the session goes on

Past the session's message rate (``limits.client_messages``) a message is dropped with an
``error {code: "rate_limited", retryable: true}``.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, InputTextRawFrame, InputTransportMessageFrame, TTSUpdateSettingsFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from server.limits.buckets import SessionBuckets
from server.store.retry import StoreUnavailable
from server.voice.events import (
    BadClientMessage,
    ErrorEvent,
    FeedbackMessage,
    HumanMessage,
    SpeechRateMessage,
    TextMessage,
    parse_client_message,
)
from server.voice.feedback import SessionFeedback
from server.voice.frames import HumanRequestFrame, event_frame
from server.voice.tts import AlignedTTSSettings

SLOW_DOWN = "Too many messages at once; please wait a moment and try again."


class ClientMessageStage(FrameProcessor):
    """Dispatches each client message to the stage that acts on it, as a frame."""

    def __init__(self, feedback: SessionFeedback, rate: SessionBuckets | None = None) -> None:
        super().__init__(name="ClientMessages")
        self._feedback = feedback
        self._rate = rate

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputTransportMessageFrame):
            await self._dispatch(frame.message)
        else:
            await self.push_frame(frame, direction)

    async def _dispatch(self, raw: object) -> None:
        if self._rate is not None and not self._rate.take():
            event = ErrorEvent(code="rate_limited", message=SLOW_DOWN, retryable=True)
            await self.push_frame(event_frame(event))
            return
        try:
            message = parse_client_message(raw)
        except BadClientMessage as exc:
            await self.push_frame(event_frame(ErrorEvent(code="bad_message", message=str(exc))))
            return
        if isinstance(message, TextMessage):
            await self.push_frame(InputTextRawFrame(text=message.text))
        elif isinstance(message, HumanMessage):
            await self.push_frame(HumanRequestFrame())
        elif isinstance(message, SpeechRateMessage):
            await self.push_frame(TTSUpdateSettingsFrame(delta=AlignedTTSSettings(slow=message.slow)))
        elif isinstance(message, FeedbackMessage):
            try:
                await self._feedback.rate(message.rating)
            except StoreUnavailable:
                sorry = "Your rating could not be saved; try again later."
                event = ErrorEvent(code="store_unavailable", message=sorry, retryable=True)
                await self.push_frame(event_frame(event))
