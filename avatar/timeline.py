"""Viseme timelines and coarticulated mouth tracks sampled per frame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from avatar.visemes import (
    DOMINANCE_AFTER,
    DOMINANCE_ALPHA,
    DOMINANCE_BEFORE,
    PREFIX_MARKS,
    PRESS,
    SHAPE_MATRIX,
    VISEME_INDEX,
    Viseme,
    phoneme_to_viseme,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Word gaps shorter than this are shared between their neighbours instead of
#: closing the mouth (fluent speech does not close between words).
MIN_PAUSE_S = 0.08

#: Piper's pad ("_") id: VITS puts one between every two phonemes.
PIPER_PAD_IDS = frozenset({0})
#: Share of a Piper phoneme's sample count taken by its trailing pad when the
#: per-id counts are not at hand (median over the bundled voice: 0.5).
PAD_SHARE = 0.5


class PhonemeAlignmentLike(Protocol):
    """What Piper's ``PhonemeAlignment`` provides."""

    @property
    def phoneme(self) -> str: ...

    @property
    def num_samples(self) -> int: ...


class PiperChunkLike(Protocol):
    """What Piper's ``AudioChunk`` provides."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def phoneme_alignments(self) -> Sequence[PhonemeAlignmentLike] | None: ...

    @property
    def phoneme_id_samples(self) -> npt.NDArray[np.integer] | None: ...


@dataclass(frozen=True)
class VisemeTimeline:
    """Viseme segments in seconds, relative to the start of the audio chunk they describe."""

    starts: F64
    ends: F64
    visemes: I64

    @classmethod
    def empty(cls) -> VisemeTimeline:
        """A timeline without segments."""
        z = np.zeros(0)
        return cls(z, z.copy(), np.zeros(0, dtype=np.int64))

    @classmethod
    def from_segments(cls, segments: Iterable[tuple[Viseme, float, float]]) -> VisemeTimeline:
        """Build from ``(viseme, start_s, end_s)`` triples in time order."""
        segs = list(segments)
        return cls(
            np.array([s for _, s, _ in segs], dtype=np.float64),
            np.array([e for _, _, e in segs], dtype=np.float64),
            np.array([VISEME_INDEX[v] for v, _, _ in segs], dtype=np.int64),
        )

    @classmethod
    def from_phoneme_durations(cls, items: Sequence[tuple[str, float]]) -> VisemeTimeline:
        """Build from ``(ipa_phoneme, duration_s)`` in speaking order.

        Stress marks lend their time to the next phoneme, length marks to the
        previous one; short word gaps are shared by their neighbours.
        """
        segs: list[list[float]] = []  # [viseme_index, start, end]
        t = 0.0
        pending_start: float | None = None
        for phoneme, dur in items:
            vis = phoneme_to_viseme(phoneme)
            start, t = t, t + max(0.0, float(dur))
            if vis is None:
                if phoneme in PREFIX_MARKS:
                    pending_start = start if pending_start is None else pending_start
                elif segs:
                    segs[-1][2] = t
                continue
            if pending_start is not None:
                start, pending_start = pending_start, None
            idx = float(VISEME_INDEX[vis])
            if segs and segs[-1][0] == idx:
                segs[-1][2] = t
            else:
                segs.append([idx, start, t])
        if pending_start is not None and segs:
            segs[-1][2] = t
        return cls._from_rows(_share_short_pauses(segs))

    @classmethod
    def from_piper(
        cls,
        alignments: Sequence[PhonemeAlignmentLike],
        sample_rate: int,
        *,
        phoneme_id_samples: Sequence[int] | npt.NDArray[np.integer] | None = None,
        pad_ids: frozenset[int] = PIPER_PAD_IDS,
    ) -> VisemeTimeline:
        """Build from Piper's per-phoneme alignments (``AudioChunk.phoneme_alignments``).

        Piper counts each phoneme's samples together with the pad token that
        follows it, which is the acoustic transition into the next phoneme; used
        as is, every segment ends (and so peaks) half a transition late. With the
        chunk's per-id counts (``AudioChunk.phoneme_id_samples``) each pad is
        shared between the phonemes on either side; without them (but with the
        alignments' ``phoneme_ids``) the pad's length is estimated. See
        ``from_piper_chunk``.
        """
        split = _split_pads(alignments, phoneme_id_samples, pad_ids)
        if split is not None:
            return cls.from_phoneme_durations(
                [(a.phoneme, n / sample_rate) for a, n in zip(alignments, split, strict=True)]
            )
        return cls.from_phoneme_durations([(a.phoneme, int(a.num_samples) / sample_rate) for a in alignments])

    @classmethod
    def from_piper_chunk(cls, chunk: PiperChunkLike) -> VisemeTimeline | None:
        """Timeline of one Piper ``AudioChunk`` (``None`` without alignments), pads split."""
        if not chunk.phoneme_alignments:
            return None
        return cls.from_piper(
            chunk.phoneme_alignments, int(chunk.sample_rate), phoneme_id_samples=chunk.phoneme_id_samples
        )

    @classmethod
    def _from_rows(cls, rows: list[list[float]]) -> VisemeTimeline:
        if not rows:
            return cls.empty()
        arr = np.array(rows, dtype=np.float64)
        return cls(arr[:, 1].copy(), arr[:, 2].copy(), arr[:, 0].astype(np.int64))

    @property
    def duration(self) -> float:
        """End time of the last segment."""
        return float(self.ends[-1]) if self.ends.size else 0.0

    def __len__(self) -> int:
        return int(self.visemes.size)

    def segments(self) -> list[tuple[Viseme, float, float]]:
        """Segments as ``(viseme, start_s, end_s)``."""
        names = list(Viseme)
        return [
            (names[v], float(s), float(e))
            for v, s, e in zip(self.visemes, self.starts, self.ends, strict=True)
        ]

    def viseme_at(self, t: float) -> Viseme:
        """The segment's viseme at time ``t`` (no smoothing); SIL outside the timeline."""
        i = int(np.searchsorted(self.ends, t, side="right"))
        if i >= self.visemes.size or t < self.starts[i]:
            return Viseme.SIL
        return list(Viseme)[int(self.visemes[i])]

    def shifted(self, offset_s: float) -> VisemeTimeline:
        """The same segments moved by ``offset_s``."""
        return VisemeTimeline(self.starts + offset_s, self.ends + offset_s, self.visemes.copy())


def _split_pads(
    alignments: Sequence[PhonemeAlignmentLike],
    id_samples: Sequence[int] | npt.NDArray[np.integer] | None,
    pad_ids: frozenset[int],
) -> list[float] | None:
    """Per-phoneme sample counts with each trailing pad shared with the next phoneme.

    Needs ``phoneme_ids`` on the alignments (Piper >= 1.3). With ``id_samples`` the
    pad's own count is used; without, it is estimated as ``PAD_SHARE`` of the
    phoneme's count (its median in Piper's voices). Returns ``None`` when the ids are
    missing or do not line up (the caller then uses the plain counts).
    """
    counts = [int(n) for n in id_samples] if id_samples is not None else None
    out: list[float] = []
    k, carry = 0, 0.0
    for a in alignments:
        ids = list(getattr(a, "phoneme_ids", None) or [])
        total = int(a.num_samples)
        if not ids:
            return None
        trailing = 0
        while trailing < len(ids) - 1 and ids[len(ids) - 1 - trailing] in pad_ids:
            trailing += 1
        if counts is None:
            pad = PAD_SHARE * total if trailing else 0.0
        else:
            if k + len(ids) > len(counts) or sum(counts[k : k + len(ids)]) != total:
                return None
            pad = float(sum(counts[k + len(ids) - trailing : k + len(ids)]))
        out.append(carry + total - pad / 2)
        carry = pad / 2
        k += len(ids)
    if out:
        out[-1] += carry
    return out


def _share_short_pauses(segs: list[list[float]]) -> list[list[float]]:
    sil = float(VISEME_INDEX[Viseme.SIL])
    out: list[list[float]] = []
    for i, seg in enumerate(segs):
        inner = 0 < i < len(segs) - 1
        if seg[0] == sil and inner and seg[2] - seg[1] < MIN_PAUSE_S:
            mid = (seg[1] + seg[2]) / 2
            out[-1][2] = mid
            segs[i + 1][1] = mid
            continue
        out.append(seg)
    return out


class MouthTrack:
    """Coarticulated mouth parameters over an utterance made of appended timelines.

    Each segment imposes its viseme's shape with a dominance that decays
    exponentially outside the segment (Cohen & Massaro); the mouth at time ``t`` is
    the dominance-weighted mean of the shapes. Silence surrounds the track.
    """

    WINDOW_S = 0.3
    CLOSURE_SAMPLES = 2

    def __init__(self) -> None:
        self._rows: list[tuple[float, float, int]] = []
        self._starts: F64 = np.zeros(0)
        self._ends: F64 = np.zeros(0)
        self._vis: I64 = np.zeros(0, dtype=np.int64)

    def clear(self) -> None:
        """Forget every segment."""
        self._rows.clear()
        self._rebuild()

    @property
    def end(self) -> float:
        """End of the last segment in utterance time."""
        return float(self._ends[-1]) if self._ends.size else 0.0

    def append(self, timeline: VisemeTimeline, offset_s: float) -> None:
        """Add a chunk's timeline starting at ``offset_s`` in utterance time."""
        self._rows.extend(
            (float(s) + offset_s, float(e) + offset_s, int(v))
            for s, e, v in zip(timeline.starts, timeline.ends, timeline.visemes, strict=True)
        )
        self._rebuild()

    def covers(self, t: float) -> bool:
        """True when ``t`` lies within the appended segments."""
        return bool(self._starts.size) and float(self._starts[0]) <= t <= float(self._ends[-1])

    def sample(self, t: float, out: F64) -> None:
        """Write the coarticulated mouth parameters at ``t`` into ``out``."""
        lo = int(np.searchsorted(self._ends, t - self.WINDOW_S))
        hi = int(np.searchsorted(self._starts, t + self.WINDOW_S))
        vis = self._vis[lo:hi]
        before = np.maximum(0.0, self._starts[lo:hi] - t)
        after = np.maximum(0.0, t - self._ends[lo:hi])
        dom = DOMINANCE_ALPHA[vis] * np.exp(-before / DOMINANCE_BEFORE[vis] - after / DOMINANCE_AFTER[vis])
        sil = VISEME_INDEX[Viseme.SIL]
        gap = max(0.0, float(self._starts[0]) - t, t - float(self._ends[-1])) if self._starts.size else 0.0
        sil_dom = (
            DOMINANCE_ALPHA[sil] * np.exp(-gap / DOMINANCE_BEFORE[sil]) if gap > 0 or not vis.size else 0.0
        )
        total = float(dom.sum()) + sil_dom
        np.dot(dom, SHAPE_MATRIX[vis], out=out) if vis.size else out.fill(0.0)
        out += sil_dom * SHAPE_MATRIX[sil]
        out /= max(total, 1e-9)

    def sample_frame(self, t0: float, t1: float, out: F64, scratch: F64) -> None:
        """Mouth for a frame spanning ``[t0, t1)``.

        The mean of five samples, except that a lip closure held for at least
        ``CLOSURE_SAMPLES`` of them is shown whole (so /p b m/ never vanish between
        frames); a closure that only grazes the frame's edge leaves the opening
        that dominates the frame. ``scratch`` is a (2, n) array.
        """
        out.fill(0.0)
        best_press = -1.0
        pressed = 0
        closure = scratch[1]
        for k in range(5):
            t = t0 + (k + 0.5) * (t1 - t0) / 5
            self.sample(t, scratch[0])
            out += scratch[0]
            pressed += int(scratch[0][PRESS] > 0.5)
            if scratch[0][PRESS] > best_press:
                best_press = float(scratch[0][PRESS])
                closure[:] = scratch[0]
        out /= 5
        if pressed >= self.CLOSURE_SAMPLES:
            out[:] = closure

    def _rebuild(self) -> None:
        self._rows.sort(key=lambda r: r[0])
        self._starts = np.array([r[0] for r in self._rows], dtype=np.float64)
        self._ends = np.array([r[1] for r in self._rows], dtype=np.float64)
        self._vis = np.array([r[2] for r in self._rows], dtype=np.int64)
