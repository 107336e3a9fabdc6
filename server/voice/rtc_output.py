"""The bot's WebRTC audio leaves in 20 ms frames, one Opus packet each.

pipecat's ``RawAudioTrack`` hands aiortc 10 ms frames: its sender then runs a
hundred times a second per session (pull, level, a worker-thread hop for the
encoder that sends only every other time), each run a few trips through the
event loop. With two sessions and their video on one loop those trips did not
keep up: audio left at half speed and replies took twice their length. Opus
packets carry 20 ms anyway, so ``PacedAudioTrack`` hands out 20 ms: half the
work, the same packets, the same pacing by timestamps and the same
``add_audio_bytes`` contract (10 ms multiples, a future per write that resolves
once its audio was taken).

``install()`` makes pipecat's SmallWebRTC transport build this track; pipecat
is pinned, and this module is the one place that knows where the track is made.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import numpy as np
from av import AudioFrame
from pipecat.transports.smallwebrtc import transport as smallwebrtc

FRAME_MS = 20


class PacedAudioTrack(smallwebrtc.RawAudioTrack):
    """``RawAudioTrack`` that gives aiortc 20 ms frames (silence where no audio is queued)."""

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
            if not self._chunk_queue:
                parts.append(bytes(self._bytes_per_10ms))
                continue
            chunk, future = self._chunk_queue.popleft()
            if future is not None and not future.done():
                future.set_result(True)
            parts.append(chunk)
        samples = np.frombuffer(b"".join(parts), dtype=np.int16)
        frame = AudioFrame.from_ndarray(samples[None, :], layout="mono")
        frame.sample_rate = self._sample_rate
        frame.pts = self._timestamp
        frame.time_base = fractions.Fraction(1, self._sample_rate)
        self._timestamp += per_frame
        return frame


def install() -> None:
    """Make every SmallWebRTC session send its audio through ``PacedAudioTrack`` (idempotent)."""
    smallwebrtc.RawAudioTrack = PacedAudioTrack  # type: ignore[misc]
