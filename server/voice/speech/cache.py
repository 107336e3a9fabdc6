"""Synthesised speech kept for reuse: approved answers are fixed texts, so each is synthesised once.

A clip is the audio of one text, piece by piece, with each piece's viseme
timeline. The key hashes the voice (file name, size and modification time), the
speaking speed and the exact text, so an edited answer is a new key and never
plays old audio. Clips live in a bounded in-memory LRU and, optionally, as
``.npz`` files in a directory (``var/speech_cache``) that survives restarts; the
directory is pruned oldest-first past its size limit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.timeline import VisemeTimeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechPiece:
    """PCM16 mono audio of one piece of a text and the visemes that go with it."""

    pcm: bytes
    visemes: VisemeTimeline | None


@dataclass(frozen=True)
class SpeechClip:
    sample_rate: int
    pieces: tuple[SpeechPiece, ...]

    @property
    def nbytes(self) -> int:
        return sum(len(p.pcm) for p in self.pieces)


def voice_identity(path: Path) -> str:
    """Names one voice file version: a replaced voice gets new keys."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


def speech_key(voice: str, length_scale: float | None, text: str) -> str:
    raw = f"{voice}\0{length_scale if length_scale is not None else 'default'}\0{text}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class SpeechCache:
    """Thread-safe LRU of clips in memory, backed by an optional directory on disk."""

    def __init__(
        self, *, max_memory_mb: float = 64.0, disk_dir: Path | None = None, max_disk_mb: float = 512.0
    ) -> None:
        self._max_memory = int(max_memory_mb * 1024 * 1024)
        self._max_disk = int(max_disk_mb * 1024 * 1024)
        self._disk_dir = disk_dir
        self._clips: OrderedDict[str, SpeechClip] = OrderedDict()
        self._memory = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        if disk_dir is not None:
            disk_dir.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> SpeechClip | None:
        with self._lock:
            clip = self._clips.get(key)
            if clip is not None:
                self._clips.move_to_end(key)
                self.hits += 1
                return clip
        clip = self._read(key)
        with self._lock:
            if clip is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(key, clip)
        return clip

    def put(self, key: str, clip: SpeechClip) -> None:
        with self._lock:
            self._remember(key, clip)
        self._write(key, clip)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._clips:
                return True
        return self._disk_dir is not None and (self._disk_dir / f"{key}.npz").is_file()

    def _remember(self, key: str, clip: SpeechClip) -> None:
        if clip.nbytes > self._max_memory:
            return
        old = self._clips.pop(key, None)
        if old is not None:
            self._memory -= old.nbytes
        self._clips[key] = clip
        self._memory += clip.nbytes
        while self._memory > self._max_memory:
            _, dropped = self._clips.popitem(last=False)
            self._memory -= dropped.nbytes

    def _read(self, key: str) -> SpeechClip | None:
        if self._disk_dir is None:
            return None
        path = self._disk_dir / f"{key}.npz"
        try:
            with np.load(path) as data:
                return _from_arrays(dict(data))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError):
            log.warning("unreadable speech cache file dropped", extra={"file": path.name})
            path.unlink(missing_ok=True)
            return None

    def _write(self, key: str, clip: SpeechClip) -> None:
        if self._disk_dir is None:
            return
        path = self._disk_dir / f"{key}.npz"
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with partial.open("wb") as handle:
            np.savez(handle, allow_pickle=False, **_to_arrays(clip))
        partial.replace(path)
        self._prune_disk()

    def _prune_disk(self) -> None:
        assert self._disk_dir is not None
        files = sorted(self._disk_dir.glob("*.npz"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self._max_disk:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)


def _to_arrays(clip: SpeechClip) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"sample_rate": np.array([clip.sample_rate], dtype=np.int64)}
    for i, piece in enumerate(clip.pieces):
        arrays[f"pcm{i}"] = np.frombuffer(piece.pcm, dtype=np.int16)
        if piece.visemes is not None:
            v = piece.visemes
            arrays[f"vis{i}"] = np.stack([v.starts, v.ends, v.visemes.astype(np.float64)])
    return arrays


def _from_arrays(data: dict[str, np.ndarray]) -> SpeechClip:
    pieces: list[SpeechPiece] = []
    i = 0
    while f"pcm{i}" in data:
        vis = data.get(f"vis{i}")
        visemes = (
            VisemeTimeline(vis[0].copy(), vis[1].copy(), vis[2].astype(np.int64)) if vis is not None else None
        )
        pieces.append(SpeechPiece(pcm=data[f"pcm{i}"].astype(np.int16).tobytes(), visemes=visemes))
        i += 1
    if not pieces:
        raise ValueError("speech cache file without audio")
    return SpeechClip(sample_rate=int(data["sample_rate"][0]), pieces=tuple(pieces))
