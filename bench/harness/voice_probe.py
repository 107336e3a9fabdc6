"""A real WebRTC customer (aiortc) for end-to-end checks, tests and the latency benchmark.

It fetches a session token, offers audio (sent from a queue, silence between
utterances) plus receive-only video and a data channel, and records when things
happen: the end of each utterance it sent, the first reply audio that came back,
every event and video frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
import numpy.typing as npt
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

SEND_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
SILENCE_LEVEL = 300  # int16 peak below which received audio counts as silence


class _QueuedAudioTrack(MediaStreamTrack):
    """Outgoing microphone: queued utterances, silence otherwise, paced by timestamps."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pending = np.zeros(0, dtype=np.int16)
        self._pts = 0
        self._start: float | None = None
        self.utterance_ends: list[float] = []
        self.utterance_starts: list[float] = []
        self._end_at_sample: int | None = None
        self._start_at_sample: int | None = None

    def queue(self, samples: npt.NDArray[np.int16]) -> None:
        self._start_at_sample = self._pts + len(self._pending)
        self._pending = np.concatenate([self._pending, samples])
        self._end_at_sample = self._pts + len(self._pending)

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._pts / SEND_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self._pending[:FRAME_SAMPLES]
        self._pending = self._pending[FRAME_SAMPLES:]
        if len(chunk) < FRAME_SAMPLES:
            chunk = np.concatenate([chunk, np.zeros(FRAME_SAMPLES - len(chunk), dtype=np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SEND_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SEND_RATE)
        if self._start_at_sample is not None and self._pts + FRAME_SAMPLES > self._start_at_sample:
            self.utterance_starts.append(time.monotonic())
            self._start_at_sample = None
        self._pts += FRAME_SAMPLES
        if self._end_at_sample is not None and self._pts >= self._end_at_sample:
            self.utterance_ends.append(time.monotonic())
            self._end_at_sample = None
        return frame


@dataclass
class ProbeLog:
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    audio_onsets: list[float] = field(default_factory=list)
    loud_times: list[float] = field(default_factory=list)  # arrival of every loud reply frame
    audio_samples: list[npt.NDArray[np.int16]] = field(default_factory=list)
    video_frames: int = 0
    first_video_at: float | None = None
    last_video: npt.NDArray[np.uint8] | None = None


class VoiceProbe:
    """``async with VoiceProbe(base_url) as probe: await probe.say(pcm16_48k)``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        ice_servers: list[RTCIceServer] | None = None,
        signalling_url: str = "",
        verify: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session_id = ""
        self.worker: str | None = None  # the cluster worker the grant named (None: one process)
        # Where the offer goes: the grant's /w/<worker> prefix (a cluster), or "" (this origin)
        self.signalling_url = signalling_url
        self._verify = verify  # False: a self-signed certificate (the local cluster's nginx)
        self.log = ProbeLog()
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self._mic = _QueuedAudioTrack()
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._channel: Any = None
        self._speaking = False
        self.last_loud_at = 0.0

    async def __aenter__(self) -> VoiceProbe:
        try:
            await self.connect()
        except BaseException:
            await self.close()  # an unclosed peer connection's tasks hang the loop's shutdown
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def connect(self) -> None:
        async with httpx.AsyncClient(
            base_url=self.base_url, trust_env=False, timeout=60, verify=self._verify
        ) as http:
            if self.token is None:
                grant = (await http.get("/api/v1/session")).raise_for_status().json()
                self.token, self.session_id = grant["token"], grant["session_id"]
                self.worker = grant.get("worker")
                self.signalling_url = grant.get("signalling_url") or ""
                if grant.get("ice_servers"):  # STUN/TURN (with credentials): a new, still unused pc
                    servers = [RTCIceServer(**server) for server in grant["ice_servers"]]
                    self._pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
            self._pc.addTrack(self._mic)
            self._pc.addTransceiver("video", direction="recvonly")
            self._channel = self._pc.createDataChannel("teller")
            self._channel.on("message", self._on_message)
            self._pc.on("track", self._on_track)
            await self._pc.setLocalDescription(await self._pc.createOffer())
            offer = self._pc.localDescription
            response = await http.post(
                f"{self.signalling_url}/api/v1/webrtc/offer",
                json={"sdp": offer.sdp, "type": offer.type, "token": self.token},
            )
            response.raise_for_status()
            answer = response.json()
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pc.close()

    def candidate_types(self) -> tuple[str, str] | None:
        """(local, remote) type of the ICE candidate pair the audio uses ("host", "srflx",
        "relay", "prflx"), once ICE nominated one."""
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "audio":
                # aioice's nominated pair; aiortc has no public accessor for it
                pair = transceiver.receiver.transport.transport._connection._nominated.get(1)
                if pair is not None:
                    return pair.local_candidate.type, pair.remote_candidate.type
        return None

    def remote_candidate_types(self) -> set[str]:
        """Types of the ICE candidates in the server's answer ("host", "srflx", "relay")."""
        answer = self._pc.remoteDescription
        return set(re.findall(r"^a=candidate:.* typ (\w+)", answer.sdp if answer else "", re.MULTILINE))

    def _on_message(self, message: str) -> None:
        data = json.loads(message)
        if isinstance(data, dict) and data.get("type") != "signalling":
            self.log.events.append((time.monotonic(), data))
            self._changed.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        reader = self._read_audio if track.kind == "audio" else self._read_video
        self._tasks.append(asyncio.create_task(reader(track)))

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                samples = frame.to_ndarray().reshape(-1).astype(np.int16)
                loud = bool(np.abs(samples).max(initial=0) > SILENCE_LEVEL)
                if loud and not self._speaking:
                    self.log.audio_onsets.append(time.monotonic())
                    self._changed.set()
                if loud:
                    self.last_loud_at = time.monotonic()
                    self.log.loud_times.append(self.last_loud_at)
                self._speaking = loud
                self.log.audio_samples.append(samples)
        except MediaStreamError:
            return

    async def _read_video(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                if self.log.first_video_at is None:
                    self.log.first_video_at = time.monotonic()
                self.log.video_frames += 1
                if self.log.video_frames % 10 == 1:
                    self.log.last_video = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                self._changed.set()
        except MediaStreamError:
            return

    async def say(self, samples_48k: npt.NDArray[np.int16]) -> None:
        """Queue an utterance; ``utterance_ends[-1]`` is set when its last sample is sent."""
        self._mic.queue(samples_48k)

    @property
    def utterance_ends(self) -> list[float]:
        return self._mic.utterance_ends

    @property
    def utterance_starts(self) -> list[float]:
        """When the first sample of each queued utterance was sent."""
        return self._mic.utterance_starts

    def reply_audio_end(self, since: float, gap_s: float = 0.5) -> float:
        """End of the reply audio playing at ``since``: the last loud frame before a ``gap_s`` pause.

        ``since`` itself when nothing loud arrived within ``gap_s`` of it.
        """
        end = since
        for t in self.log.loud_times:
            if t < since:
                continue
            if t - end > gap_s:
                break
            end = t
        return end

    async def wait_quiet(self, quiet_s: float = 1.2, within: float = 60.0) -> None:
        """Wait until no reply audio has come for ``quiet_s`` seconds."""
        await self.wait_for(lambda: time.monotonic() - self.last_loud_at > quiet_s, within)

    async def wait_idle(self, after: float, within: float = 60.0) -> None:
        """Wait until the server says the avatar went idle after ``after`` (the reply was played)."""

        def idle() -> bool:
            states = (e for t, e in self.log.events if t > after and e.get("type") == "state")
            return any(e.get("avatar") == "idle" for e in states)

        await self.wait_for(idle, within)

    def send(self, message: dict[str, Any]) -> None:
        self._channel.send(json.dumps(message))

    async def wait_for(self, predicate: Callable[[], Any], within: float = 20.0) -> Any:
        """Wait until ``predicate()`` is truthy; return its value."""
        deadline = time.monotonic() + within
        while not (value := predicate()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"probe waited {within}s; events so far: {self.event_types()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return value

    def event_types(self) -> list[str]:
        return [str(e.get("type")) for _, e in self.log.events]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for _, e in self.log.events if e.get("type") == kind]

    def event_time(self, kind: str, after: float = 0.0) -> float | None:
        return next((t for t, e in self.log.events if e.get("type") == kind and t >= after), None)
