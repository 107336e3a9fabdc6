"""Server-side timestamps for the voice benchmark: where reply audio waits on its way out.

The pipeline marks when the avatar stage emits the first frame of a reply
(``first_reply_frame``). After that the audio crosses pipecat's output queue
(``write``: the transport writes the first loud chunk) and the WebRTC track's
own queue (``track``: aiortc pulls the first loud 10 ms frame to encode and
send). The probe then sees it arrive (``onset``). These hooks wrap the two
pipecat methods for the benchmark process only and record loud onsets on the
objects themselves; ``LoopLag`` samples how late the server's event loop runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from pipecat.frames.frames import OutputAudioRawFrame
from pipecat.transports.smallwebrtc.transport import SmallWebRTCClient, SmallWebRTCOutputTransport

from server.voice.transport.rtc_output import PacedAudioTrack

LOUD = 300  # int16 peak: the same threshold the probe uses for received audio


class _State:
    installed = False
    server_loop: asyncio.AbstractEventLoop | None = None


def _loud(pcm: bytes) -> bool:
    return bool(np.abs(np.frombuffer(pcm, dtype=np.int16)).max(initial=0) > LOUD)


def _record(obj: Any, loud: bool) -> None:
    onsets: list[float] = obj.__dict__.setdefault("bench_onsets", [])
    was_loud: bool = obj.__dict__.get("bench_loud", False)
    if loud and not was_loud:
        onsets.append(time.monotonic())
    obj.__dict__["bench_loud"] = loud


def install() -> None:
    """Wrap the transport's audio write and the track's ``recv`` (once per process)."""
    if _State.installed:
        return
    _State.installed = True
    write = SmallWebRTCClient.write_audio_frame
    recv = PacedAudioTrack.recv

    async def write_audio_frame(self: SmallWebRTCClient, frame: OutputAudioRawFrame) -> bool:
        _record(self, _loud(frame.audio))
        return await write(self, frame)

    async def track_recv(self: PacedAudioTrack) -> Any:
        _State.server_loop = asyncio.get_running_loop()
        frame = await recv(self)
        _record(self, _loud(bytes(frame.planes[0])))
        return frame

    SmallWebRTCClient.write_audio_frame = write_audio_frame  # type: ignore[method-assign]
    PacedAudioTrack.recv = track_recv  # type: ignore[method-assign]


def _walk(processor: Any) -> Iterator[Any]:
    yield processor
    for child in getattr(processor, "processors", None) or []:
        if child is not processor:
            yield from _walk(child)


def output_onsets(worker: Any) -> tuple[list[float], list[float]]:
    """(transport write onsets, track send onsets) of one session's WebRTC output."""
    for processor in _walk(worker._pipeline):
        if isinstance(processor, SmallWebRTCOutputTransport):
            client = processor._client
            track = client._audio_output_track
            writes: list[float] = client.__dict__.get("bench_onsets", [])
            sends: list[float] = track.__dict__.get("bench_onsets", []) if track is not None else []
            return writes, sends
    return [], []


class LoopLag:
    """Samples how late a 10 ms timer fires on the server's event loop."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._future: Any = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            self.samples.append(time.monotonic() - started - 0.01)

    def start(self) -> bool:
        """Start sampling once the server loop is known (after a track was read); True if running."""
        if self._future is None and _State.server_loop is not None:
            self._future = asyncio.run_coroutine_threadsafe(self._run(), _State.server_loop)
        return self._future is not None

    def stop(self) -> None:
        if self._future is not None:
            self._future.cancel()

    def percentile_ms(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return round(1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)
