"""The websocket transport, for networks that block UDP: pipecat's FastAPI transport
plus a small binary protocol and avatar video.

Client → server: binary = PCM16 mono 16 kHz audio (≤ 1 s per message); text = one
JSON client message (server/voice/events.py). A session's messages and audio are rate limited
(``limits.ws_messages``, ``limits.ws_audio_s``): past them the socket is closed with 4429.
Server → client: binary messages start with one tag byte, ``A`` (PCM16 mono audio at the
session's output rate) or ``V`` (one JPEG video frame); text messages are JSON events.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import cv2
import numpy as np
from fastapi import WebSocket
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputImageRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

from server.limits.buckets import SessionBuckets
from server.limits.ws_size import CUSTOMER_AUDIO_MESSAGE_BYTES
from server.voice.events import MAX_CLIENT_MESSAGE_BYTES

log = logging.getLogger(__name__)

IN_SAMPLE_RATE = 16_000
MAX_AUDIO_MESSAGE_BYTES = CUSTOMER_AUDIO_MESSAGE_BYTES
WS_FLOOD_CODE = 4429  # the session sent messages or audio faster than its limits


@dataclass
class WsLimits:
    """One websocket session's buckets, and how it is closed once it goes past them."""

    messages: SessionBuckets  # every message
    audio_s: SessionBuckets  # seconds of audio
    flooded: Callable[[], Awaitable[None]]


class TellerSerializer(FrameSerializer):
    """Raw PCM and JSON in; tagged PCM, JPEG and JSON out. Bad messages are dropped and counted."""

    def __init__(self, jpeg_quality: int = 80, *, limits: WsLimits | None = None) -> None:
        super().__init__()
        self._jpeg = [int(cv2.IMWRITE_JPEG_QUALITY), jpeg_quality]
        self._limits = limits
        self.rejected = 0
        self.flooded = False

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, OutputAudioRawFrame):
            return b"A" + frame.audio
        if isinstance(frame, OutputImageRawFrame):
            width, height = frame.size
            image = np.frombuffer(frame.image, dtype=np.uint8).reshape(height, width, 3)
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), self._jpeg)
            return b"V" + jpeg.tobytes() if ok else None
        if isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            return json.dumps(frame.message)
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"type": "interrupt"})
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if self.flooded:
            return None
        limits = self._limits
        if limits is not None and not limits.messages.take():
            await self._flood(limits)
            return None
        if isinstance(data, bytes):
            if len(data) > MAX_AUDIO_MESSAGE_BYTES or len(data) % 2:
                self._reject(f"audio message of {len(data)} bytes")
                return None
            if limits is not None and not limits.audio_s.take(len(data) / (IN_SAMPLE_RATE * 2)):
                await self._flood(limits)
                return None
            return InputAudioRawFrame(audio=data, sample_rate=IN_SAMPLE_RATE, num_channels=1)
        if len(data) > MAX_CLIENT_MESSAGE_BYTES:
            self._reject(f"text message of {len(data)} bytes")
            return None
        try:
            message = json.loads(data)
        except ValueError:
            self._reject("text message that is not JSON")
            return None
        return InputTransportMessageFrame(message=message)

    async def _flood(self, limits: WsLimits) -> None:
        self.flooded = True
        log.warning("websocket client went past its message or audio rate; closing it")
        await limits.flooded()

    def _reject(self, what: str) -> None:
        self.rejected += 1
        if self.rejected == 1:
            log.warning("websocket client sent a bad message; dropping it", extra={"what": what})


class _VideoWebsocketOutput(FastAPIWebsocketOutputTransport):
    async def write_video_frame(self, frame: OutputImageRawFrame) -> bool:
        return await self._write_frame(frame)


class TellerWebsocketTransport(FastAPIWebsocketTransport):
    """pipecat's FastAPI websocket transport that also sends the avatar's video."""

    def __init__(self, websocket: WebSocket, params: FastAPIWebsocketParams) -> None:
        super().__init__(websocket, params)
        self._output = _VideoWebsocketOutput(self, self._client, self._params, name=self._output_name)
