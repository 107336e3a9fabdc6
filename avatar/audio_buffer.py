"""Speech audio buffer that hands each video frame its own slice of samples."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from avatar.errors import AudioFormatError

Pcm = npt.NDArray[np.int16]


@dataclass(frozen=True)
class PlaybackPosition:
    """How much of the current (or last) utterance was actually shown.

    ``played_s`` counts audio handed out with frames; ``pushed_s`` everything pushed.
    ``interrupted`` is True when ``clear()`` cut the utterance short.
    """

    played_s: float
    pushed_s: float
    finished: bool
    interrupted: bool

    @property
    def fraction(self) -> float:
        """Share of the pushed speech that was played, 0..1."""
        return 1.0 if self.pushed_s <= 0 else min(1.0, self.played_s / self.pushed_s)


def as_pcm16(chunk: bytes | bytearray | memoryview | npt.NDArray[np.generic]) -> Pcm:
    """Accept mono PCM16 bytes, an int16 array or a float array in [-1, 1]."""
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        if len(chunk) % 2:
            raise AudioFormatError("PCM16 chunk has an odd number of bytes")
        return np.frombuffer(chunk, dtype=np.int16)
    arr = np.asarray(chunk)
    if arr.ndim != 1:
        raise AudioFormatError(f"expected mono audio, got shape {arr.shape}")
    if arr.dtype == np.int16:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return (np.clip(arr, -1.0, 1.0) * 32767.0).astype(np.int16)
    raise AudioFormatError(f"unsupported audio dtype {arr.dtype}")


class AudioFrameBuffer:
    """FIFO of speech samples for one utterance at a time.

    Frame ``k`` of an utterance carries samples ``[floor(k*sr/fps), floor((k+1)*sr/fps))``
    so rates that do not divide evenly (44.1 kHz at 30 fps) never drift. ``take`` writes
    into a caller-owned array; nothing is allocated per frame.
    """

    def __init__(self, sample_rate: int, fps: int) -> None:
        self.sample_rate = sample_rate
        self.fps = fps
        self.max_frame_samples = -(-sample_rate // fps)
        self._chunks: deque[Pcm] = deque()
        self._head = 0
        self._queued = 0
        self._pushed = 0
        self._played = 0
        self._frame_in_utt = 0
        self._active = False
        self._ending = False
        self._interrupted = False

    @property
    def active(self) -> bool:
        """An utterance is in progress (pushed and not yet drained or cleared)."""
        return self._active

    @property
    def queued_samples(self) -> int:
        """Samples waiting to be played."""
        return self._queued

    @property
    def played_samples(self) -> int:
        """Samples of the current utterance already handed out."""
        return self._played

    def push(self, pcm: Pcm) -> int:
        """Append samples; start a new utterance if none is active. Return its start offset."""
        if not self._active:
            self._reset_utterance()
            self._active = True
        offset = self._pushed
        if pcm.size:
            self._chunks.append(pcm)
            self._queued += pcm.size
            self._pushed += pcm.size
        return offset

    def end(self) -> None:
        """No more audio will come for this utterance; it finishes once drained."""
        if self._active:
            self._ending = True

    def clear(self) -> int:
        """Drop everything not yet played; return the number of dropped samples."""
        dropped = self._queued
        self._chunks.clear()
        self._head = 0
        self._queued = 0
        if self._active:
            self._interrupted = dropped > 0 or not self._ending
            self._active = False
        return dropped

    def next_frame_samples(self) -> int:
        """Length of the next frame's slice (depends on the frame index in the utterance)."""
        k = self._frame_in_utt
        return (k + 1) * self.sample_rate // self.fps - k * self.sample_rate // self.fps

    def take(self, out: Pcm) -> int:
        """Fill ``out[:n]`` with the next frame's slice (zero-padded); return ``n``."""
        n = self.next_frame_samples()
        got = 0
        while got < n and self._chunks:
            chunk = self._chunks[0]
            k = min(n - got, chunk.size - self._head)
            out[got : got + k] = chunk[self._head : self._head + k]
            got += k
            self._head += k
            if self._head >= chunk.size:
                self._chunks.popleft()
                self._head = 0
        out[got:n] = 0
        self._queued -= got
        self._played += got
        self._frame_in_utt += 1
        if self._ending and self._queued == 0:
            self._active = False
        return n

    def position(self) -> PlaybackPosition:
        """Playback position of the current or last utterance."""
        sr = float(self.sample_rate)
        return PlaybackPosition(
            played_s=self._played / sr,
            pushed_s=self._pushed / sr,
            finished=not self._active,
            interrupted=self._interrupted,
        )

    def _reset_utterance(self) -> None:
        self._chunks.clear()
        self._head = 0
        self._queued = 0
        self._pushed = 0
        self._played = 0
        self._frame_in_utt = 0
        self._ending = False
        self._interrupted = False
