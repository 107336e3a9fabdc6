"""The bot's WebRTC audio leaves in 20 ms frames, with a short queue kept full.

pipecat's ``RawAudioTrack`` hands aiortc 10 ms frames and resolves a write's
future only once all of its audio was taken, so pipecat's output transport,
which awaits each write, leaves the track empty between chunks. Under load
that inserted silence; with big chunks (100 ms) the first chunk of a reply
waits for 100 ms of audio to collect (~80 ms of the voice-to-voice time), and a
barge-in still plays out what is queued in the track.

``PacedAudioTrack`` keeps the same ``add_audio_bytes`` contract (10 ms
multiples, a future per write) but resolves a write's future as soon as no
more than ``lookahead_ms`` of audio is queued ahead of its end: pipecat writes
the next chunk while the current one plays, so the track does not starve and
holds at most ``lookahead_ms`` + one chunk (``voice.webrtc_audio_*``). It hands aiortc 20 ms frames
(one Opus packet each): half the sender's trips through the event loop, which
with two sessions and their video on one loop did not keep up at 10 ms.

The track also obeys barge-in: ``QueuedAudioControl``, the last stage before
the output transport, passes the barge-in frames on to it (see
``output_track``): a hold sends silence and keeps the queued audio for a
release; an interruption drops it. pipecat itself never empties the track, so
otherwise up to a chunk of reply audio (100 ms) played on after the avatar
stopped.

``install()`` makes pipecat's SmallWebRTC transport build this track; pipecat
is pinned, and this module is the one place that knows where the track is made.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from av import AudioFrame
from pipecat.frames.frames import Frame, InterruptionFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.smallwebrtc import transport as smallwebrtc

from server.voice.frames import HoldSpeechFrame, ReleaseSpeechFrame

FRAME_MS = 20


class PacedAudioTrack(smallwebrtc.RawAudioTrack):
    """``RawAudioTrack`` with a look-ahead queue and 20 ms frames (silence when it is empty)."""

    lookahead_ms = 0  # set by ``install``: pipecat builds the track with its own arguments

    def __init__(self, sample_rate: int, auto_silence: bool = True) -> None:
        super().__init__(sample_rate, auto_silence)
        self._queued_pieces = 0  # 10 ms pieces written so far
        self._taken_pieces = 0  # 10 ms pieces handed to aiortc so far
        self._writes: deque[tuple[int, asyncio.Future[bool]]] = deque()  # (last piece, future)
        self._held = False

    @property
    def queued_ms(self) -> int:
        """Audio written and not yet handed to aiortc."""
        return (self._queued_pieces - self._taken_pieces) * 10

    def hold(self) -> None:
        """Send silence from the next frame on; the queued audio waits for ``release``."""
        self._held = True

    def release(self) -> None:
        self._held = False

    def clear(self) -> None:
        """Drop the queued audio (an interruption); every pending write is done."""
        self._held = False
        self._chunk_queue.clear()
        self._taken_pieces = self._queued_pieces
        self._release_writes()

    def add_audio_bytes(self, audio_bytes: bytes) -> asyncio.Future[bool]:
        if not self._auto_silence:
            future: asyncio.Future[bool] = super().add_audio_bytes(audio_bytes)
            return future
        if len(audio_bytes) % self._bytes_per_10ms != 0:
            raise ValueError("Audio bytes must be a multiple of 10ms size.")
        future = asyncio.get_running_loop().create_future()
        for start in range(0, len(audio_bytes), self._bytes_per_10ms):
            self._chunk_queue.append((audio_bytes[start : start + self._bytes_per_10ms], None))
        self._queued_pieces += len(audio_bytes) // self._bytes_per_10ms
        self._writes.append((self._queued_pieces, future))
        self._release_writes()
        return future

    def _release_writes(self) -> None:
        ahead = self.lookahead_ms // 10
        while self._writes and self._writes[0][0] - self._taken_pieces <= ahead:
            _, future = self._writes.popleft()
            if not future.done():
                future.set_result(True)

    async def recv(self) -> AudioFrame:
        if not self._auto_silence:
            waited: AudioFrame = await super().recv()  # 10 ms at a time, as pipecat does
            return waited
        per_frame = self._samples_per_10ms * FRAME_MS // 10
        if self._timestamp > 0:
            wait = self._start + self._timestamp / self._sample_rate - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        parts: list[bytes] = []
        for _ in range(FRAME_MS // 10):
            if self._chunk_queue and not self._held:
                chunk, _future = self._chunk_queue.popleft()
                parts.append(chunk)
                self._taken_pieces += 1
            else:
                parts.append(bytes(self._bytes_per_10ms))
        self._release_writes()
        samples = np.frombuffer(b"".join(parts), dtype=np.int16)
        frame = AudioFrame.from_ndarray(samples[None, :], layout="mono")
        frame.sample_rate = self._sample_rate
        frame.pts = self._timestamp
        frame.time_base = fractions.Fraction(1, self._sample_rate)
        self._timestamp += per_frame
        return frame


def output_track(transport: BaseTransport) -> Callable[[], PacedAudioTrack | None]:
    """The audio track a SmallWebRTC transport sends now (made at connect, replaced on
    renegotiation); always None for other transports."""
    client = getattr(transport, "_client", None)

    def current() -> PacedAudioTrack | None:
        track = getattr(client, "_audio_output_track", None)
        return track if isinstance(track, PacedAudioTrack) else None

    return current


_BARGE_IN = (HoldSpeechFrame, ReleaseSpeechFrame, InterruptionFrame)


class QueuedAudioControl(FrameProcessor):
    """Barge-in for the reply audio already in the WebRTC track (placed right before the output).

    ``HoldSpeechFrame``, ``ReleaseSpeechFrame`` and ``InterruptionFrame`` hold, release
    and clear the track's queue as they pass on to the output transport.
    """

    def __init__(self, track: Callable[[], PacedAudioTrack | None]) -> None:
        super().__init__(name="QueuedAudioControl")
        self._track = track

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, _BARGE_IN) and (track := self._track()) is not None:
            if isinstance(frame, HoldSpeechFrame):
                track.hold()
            elif isinstance(frame, ReleaseSpeechFrame):
                track.release()
            else:
                track.clear()
        await self.push_frame(frame, direction)


def queued_audio_control(transport: BaseTransport) -> QueuedAudioControl | None:
    """The control for a SmallWebRTC transport's track; None for other transports (no track)."""
    if not isinstance(transport, smallwebrtc.SmallWebRTCTransport):
        return None
    return QueuedAudioControl(output_track(transport))


def install(lookahead_ms: int) -> None:
    """Make every SmallWebRTC session send its audio through ``PacedAudioTrack`` (idempotent)."""
    PacedAudioTrack.lookahead_ms = lookahead_ms
    smallwebrtc.RawAudioTrack = PacedAudioTrack  # type: ignore[misc]
