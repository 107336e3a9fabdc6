"""The session pipeline's own frames, where pipecat's vocabulary has none that fits.

Stages talk to each other only through the pipeline. Each frame here says who pushes it,
which way, and who acts on it. pipecat's own frames are used wherever one fits: typed text
is an ``InputTextRawFrame``, the customer's speech rate a ``TTSUpdateSettingsFrame``,
barge-in an ``InterruptionFrame``, client events an ``OutputTransportMessageUrgentFrame``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipecat.frames.frames import ControlFrame, ErrorFrame, OutputTransportMessageUrgentFrame, SystemFrame
from pydantic import BaseModel


def event_frame(event: BaseModel) -> OutputTransportMessageUrgentFrame:
    """A server → client event (``server.voice.events``), sent at once by the output transport."""
    return OutputTransportMessageUrgentFrame(message=event.model_dump())


@dataclass
class HumanRequestFrame(SystemFrame):
    """The customer pressed "talk to a person" (client messages → conversation)."""


@dataclass
class BotThinkingFrame(SystemFrame):
    """A customer turn is complete and the reply is being worked on (conversation → avatar)."""


@dataclass
class HoldSpeechFrame(SystemFrame):
    """Pause the avatar's speech: the customer may be starting to talk over it (barge-in →
    avatar, and on to the transport's queued audio)."""


@dataclass
class ReleaseSpeechFrame(SystemFrame):
    """It was not speech: the avatar goes on from where it paused (barge-in → avatar, transport)."""


@dataclass
class PlaybackPositionRequestFrame(SystemFrame):
    """How much of the utterance being spoken has the customer heard? (conversation → avatar,
    pushed downstream when a reply is cut; answered by one ``PlaybackPositionFrame``)."""


@dataclass
class PlaybackPositionFrame(SystemFrame):
    """The share of the current (or last) utterance the customer heard, 0..1 (avatar →
    conversation, pushed upstream in answer to a ``PlaybackPositionRequestFrame``)."""

    fraction: float = 1.0


@dataclass
class ReplyEndFrame(ControlFrame):
    """Reply ``seq`` has no more speech (conversation → avatar, downstream behind the reply's last
    ``TTSSpeakFrame``). Not a system frame: the TTS queues it behind all of that reply's audio, so
    it marks the reply's real end however its sentences were synthesised and spaced; the avatar
    answers with a ``ReplyPlayedFrame`` once that audio has played. An interruption drops it."""

    seq: int = 0


@dataclass
class ReplyPlayedFrame(SystemFrame):
    """Reply ``seq`` played to its last audio: all of it was heard (avatar → conversation,
    upstream). The bot going quiet (``BotStoppedSpeakingFrame``) is not this: under load speech
    can fall behind real time and go quiet between two sentences of one reply."""

    seq: int = 0


@dataclass
class TellerErrorFrame(ErrorFrame):
    """A stage failed in a way the customer is told about: ``code`` is the ``error`` event's."""

    code: str = field(default="", init=False)
    retryable: bool = field(default=False, init=False)


@dataclass
class SpeechSynthesisFailedFrame(TellerErrorFrame):
    """TTS failed (pushed upstream by the TTS): the session goes on with subtitles only."""

    code: str = field(default="tts_down", init=False)


@dataclass
class TranscriptionFailedFrame(TellerErrorFrame):
    """Whisper failed on one turn. The STT pushes it downstream, to the conversation (upstream
    only the pipeline worker would see it): the customer is asked to say it again."""

    code: str = field(default="asr_failed", init=False)
    retryable: bool = field(default=True, init=False)
