"""Mouth shape derived from the audio itself, for speech that comes without timings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from avatar.visemes import OPEN, PRESS, ROUND, SHAPE_MATRIX, TEETH_LO, TEETH_UP, VISEME_INDEX, WIDTH, Viseme

F64 = npt.NDArray[np.float64]


class AudioMouth:
    """Maps one frame of PCM16 speech to mouth parameters.

    Loudness (RMS in dB against an adaptive peak, so a quiet operator microphone
    still moves the mouth) sets the opening; the spectral centroid and zero-crossing
    rate pick the lip shape: low and voiced -> rounded, high and noisy -> teeth
    (fricatives), in between -> open vowels. Release is smoothed, attack is not, so
    peaks stay where the audio peaks are.
    """

    FLOOR_DB = 32.0

    def __init__(self, sample_rate: int, max_samples: int) -> None:
        self.sample_rate = sample_rate
        self._n_fft = 1 << int(np.ceil(np.log2(max(64, max_samples))))
        self._window = np.hanning(self._n_fft)
        self._frame = np.zeros(self._n_fft)
        self._freqs = np.fft.rfftfreq(self._n_fft, 1.0 / sample_rate)
        self._peak_db = -30.0
        self._open = 0.0
        self._shapes = {v: SHAPE_MATRIX[VISEME_INDEX[v]] for v in Viseme}

    def reset(self) -> None:
        """Forget the loudness history (new speaker or utterance)."""
        self._peak_db = -30.0
        self._open = 0.0

    def features(self, pcm: npt.NDArray[np.int16]) -> tuple[float, float, float]:
        """Return ``(level_db, centroid_hz, zero_crossing_rate)`` of one frame."""
        n = min(pcm.size, self._n_fft)
        if n == 0:
            return -120.0, 0.0, 0.0
        x = self._frame
        x[:n] = pcm[:n]
        x[:n] *= 1.0 / 32768.0
        x[n:] = 0.0
        rms = float(np.sqrt(np.mean(x[:n] ** 2)) + 1e-9)
        spec = np.abs(np.fft.rfft(x * self._window))
        centroid = float((spec * self._freqs).sum() / (spec.sum() + 1e-9))
        zcr = float(np.count_nonzero(np.diff(np.signbit(x[:n])))) / n
        return 20.0 * np.log10(rms), centroid, zcr

    def level(self, pcm: npt.NDArray[np.int16], range_db: float | None = None) -> float:
        """Loudness of one frame in 0..1 against the adaptive peak (updates the peak).

        ``range_db`` (default ``FLOOR_DB``) is the span below the peak mapped onto 0..1.
        """
        if pcm.size == 0:
            return 0.0
        span = self.FLOOR_DB if range_db is None else range_db
        x = pcm.astype(np.float32)
        db = 10.0 * float(np.log10(float(np.dot(x, x)) / pcm.size / 32768.0**2 + 1e-12))
        self._peak_db = max(db, self._peak_db - 0.05)
        return float(np.clip((db - (self._peak_db - span)) / span, 0.0, 1.0))

    def shape(self, pcm: npt.NDArray[np.int16], out: F64) -> None:
        """Write mouth parameters for the frame ``pcm`` into ``out``."""
        db, centroid, zcr = self.features(pcm)
        self._peak_db = max(db, self._peak_db - 0.05)
        level = float(np.clip((db - (self._peak_db - self.FLOOR_DB)) / self.FLOOR_DB, 0.0, 1.0))
        target = level**1.5
        self._open = target if target > self._open else 0.5 * self._open + 0.5 * target
        noisy = float(np.clip((zcr - 0.12) / 0.15, 0.0, 1.0)) * float(np.clip((centroid - 2500) / 2000, 0, 1))
        rounded = float(np.clip((900.0 - centroid) / 500.0, 0.0, 1.0)) * (1.0 - noisy)
        out[:] = self._shapes[Viseme.AA] * (1.0 - rounded - noisy * (1 - rounded))
        out += self._shapes[Viseme.OH] * rounded
        out += self._shapes[Viseme.SS] * noisy * (1 - rounded)
        out[OPEN] = self._open * (1.0 - 0.6 * noisy)
        out[WIDTH] *= 0.3 + 0.7 * level
        out[ROUND] *= level
        out[TEETH_UP] *= min(1.0, 2 * level)
        out[TEETH_LO] *= min(1.0, 2 * level)
        out[PRESS] = 0.0
