"""The operator's own voice: a recorded line, transcribed by the injected ``LineTranscriber``
(the sessions' Whisper in the app), is re-spoken by the avatar in its own voice (the ``say`` path).

Binary console message: a 2-byte big-endian header length, a JSON header
``{"type": "say_audio", "client_msg_id", "session_id"}``, then PCM16 mono at 16 kHz.
"""

from __future__ import annotations

import json
from typing import Literal, Protocol

import numpy as np
from pydantic import ValidationError

from server.operator.commands import MAX_SAY_CHARS, Id, Message, MsgId, Say
from server.operator.errors import BadCommand, OperatorError

SAMPLE_RATE = 16_000
MAX_AUDIO_S = 30
MIN_AUDIO_S = 0.3
MAX_HEADER_BYTES = 512


class SayAudio(Message):
    type: Literal["say_audio"] = "say_audio"
    client_msg_id: MsgId
    session_id: Id


class BadAudio(BadCommand):
    """Audio that cannot be a spoken line; carries the message id when the header was readable."""

    def __init__(self, message: str, client_msg_id: str | None = None) -> None:
        super().__init__(message)
        self.client_msg_id = client_msg_id


class NothingHeard(OperatorError):
    """The recording held no words; record it again or type the line."""

    retryable = True
    code = "asr_empty"


Samples = np.ndarray[tuple[int], np.dtype[np.float32]]


class LineTranscriber(Protocol):
    """Speech to text for one short recorded line (16 kHz float32 samples)."""

    async def transcribe(self, samples: Samples) -> str: ...


def parse_audio_message(data: bytes) -> tuple[SayAudio, Samples]:
    """Header and samples (float32 in [-1, 1]) of one binary console message."""
    if len(data) < 2:
        raise BadAudio("audio message without a header")
    size = int.from_bytes(data[:2], "big")
    if not 0 < size <= MAX_HEADER_BYTES or len(data) < 2 + size:
        raise BadAudio("audio message header has a bad length")
    try:
        header = SayAudio.model_validate(json.loads(data[2 : 2 + size]))
    except (ValueError, ValidationError) as exc:
        raise BadAudio(f"audio message header: {exc}") from exc
    pcm = data[2 + size :]
    seconds = len(pcm) / 2 / SAMPLE_RATE
    if len(pcm) % 2 or not MIN_AUDIO_S <= seconds <= MAX_AUDIO_S:
        raise BadAudio(
            f"operator audio must be {MIN_AUDIO_S}-{MAX_AUDIO_S} s of PCM16 at 16 kHz", header.client_msg_id
        )
    return header, np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


class OperatorTranscriber:
    """Turns an operator's recorded line into the ``say`` command it stands for."""

    def __init__(self, transcriber: LineTranscriber) -> None:
        self._transcriber = transcriber

    async def say_command(self, header: SayAudio, samples: Samples) -> Say:
        text = (await self._transcriber.transcribe(samples)).strip()
        if not text:
            raise NothingHeard("no words were heard in the recording")
        return Say(
            client_msg_id=header.client_msg_id, session_id=header.session_id, text=text[:MAX_SAY_CHARS]
        )
