"""LiveVideoTrack: frames stamped with the time they are taken, the newest of several waiting."""

from __future__ import annotations

import numpy as np
from aiortc.mediastreams import VIDEO_CLOCK_RATE
from pipecat.frames.frames import OutputImageRawFrame
from pipecat.transports.smallwebrtc import transport as smallwebrtc

from server.voice.transport import rtc_video
from server.voice.transport.rtc_video import LiveVideoTrack

SIZE = 16


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _image(value: int) -> OutputImageRawFrame:
    return OutputImageRawFrame(image=bytes([value]) * SIZE * SIZE * 3, size=(SIZE, SIZE), format="RGB")


async def test_frames_are_stamped_with_the_time_they_are_taken() -> None:
    clock = FakeClock()
    track = LiveVideoTrack(SIZE, SIZE, clock=clock)
    stamps = []
    for gap in (0.0, 0.04, 0.08, 0.04, 0.5):  # 25 fps, a resting 12.5 fps, a pause
        clock.now += gap
        track.add_video_frame(_image(1))
        stamps.append((await track.recv()).pts)
    assert np.diff(stamps).tolist() == [round(g * VIDEO_CLOCK_RATE) for g in (0.04, 0.08, 0.04, 0.5)]
    track.add_video_frame(_image(1))  # no time passed: still a later stamp
    assert (await track.recv()).pts == stamps[-1] + 1


async def test_only_the_newest_of_the_waiting_frames_is_sent() -> None:
    track = LiveVideoTrack(SIZE, SIZE, clock=FakeClock())
    for value in (1, 2, 3):
        track.add_video_frame(_image(value))
    frame = await track.recv()
    assert set(frame.to_ndarray(format="rgb24").ravel().tolist()) == {3}
    assert track.dropped == 2


def test_install_makes_pipecat_build_the_live_track() -> None:
    rtc_video.install()
    rtc_video.install()
    assert smallwebrtc.RawVideoTrack is LiveVideoTrack
