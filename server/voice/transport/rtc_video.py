"""The avatar's WebRTC video is stamped with real time and never queues behind.

pipecat's ``RawVideoTrack`` stamps frame n at n/30 s (aiortc's
``next_timestamp``) whatever rate frames come at. At the avatar's 25 fps the
video's RTP clock therefore ran at 83 % of real time beside the audio's, and
while the avatar rests it sends fewer frames still (``avatar.idle_frame_stride``).
A browser lines the two streams up through RTCP sender reports, which map each
stream's clock to wall time; a clock that runs slow, or at a varying rate,
breaks that mapping.

``LiveVideoTrack`` stamps each frame with the time aiortc takes it for
encoding, as ``PacedAudioTrack`` stamps its audio by the time it is due (it
replaces aiortc's ``next_timestamp``; pipecat's ``recv`` still converts the
frame). When frames wait for the encoder (a loaded machine), only the newest is
kept: video is replaceable, and the audio goes on in its own track.

``install()`` makes pipecat's SmallWebRTC transport build this track (pipecat is
pinned; the track is made in one place, ``SmallWebRTCClient``).
"""

from __future__ import annotations

import fractions
import time
from collections.abc import Callable

from aiortc.mediastreams import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, MediaStreamError
from pipecat.frames.frames import OutputImageRawFrame
from pipecat.transports.smallwebrtc import transport as smallwebrtc


class LiveVideoTrack(smallwebrtc.RawVideoTrack):
    """``RawVideoTrack`` with wall-clock timestamps (90 kHz) that keeps only the newest frame waiting."""

    def __init__(self, width: int, height: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(width, height)
        self._clock = clock
        self._origin: float | None = None
        self._last_pts = -1
        self.dropped = 0

    def add_video_frame(self, frame: OutputImageRawFrame) -> None:
        while not self._video_buffer.empty():  # the encoder has not taken it yet: replace it
            self._video_buffer.get_nowait()
            self.dropped += 1
        super().add_video_frame(frame)

    async def next_timestamp(self) -> tuple[int, fractions.Fraction]:
        """The time the frame is taken for encoding (``recv`` asks just after taking it)."""
        if self.readyState != "live":
            raise MediaStreamError
        now = self._clock()
        if self._origin is None:
            self._origin = now
        self._last_pts = max(self._last_pts + 1, round((now - self._origin) * VIDEO_CLOCK_RATE))
        return self._last_pts, VIDEO_TIME_BASE


def install() -> None:
    """Make every SmallWebRTC session send its video through ``LiveVideoTrack`` (idempotent)."""
    smallwebrtc.RawVideoTrack = LiveVideoTrack  # type: ignore[misc]
