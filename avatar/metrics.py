"""Measurements on rendered frames: mouth opening from pixels and audio/video sync offsets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]


def mouth_opening(image: U8, box: tuple[int, int, int, int]) -> float:
    """Share of the mouth box showing the opening: dark cavity or teeth (bright, unsaturated)."""
    x0, y0, x1, y1 = box
    roi = image[max(0, y0) : y1, max(0, x0) : x1].astype(np.int16)
    if roi.size == 0:
        return 0.0
    lum = (roi[..., 0] * 3 + roi[..., 1] * 6 + roi[..., 2]) // 10
    sat = roi.max(axis=2) - roi.min(axis=2)
    opening = (lum < 75) | ((lum > 228) & (sat < 28))
    return float(np.count_nonzero(opening)) / float(opening.size)


def frame_energy(audio_frames: Sequence[npt.NDArray[np.int16]]) -> F64:
    """RMS level of each frame's audio slice."""
    return np.array(
        [float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) if a.size else 0.0 for a in audio_frames]
    )


def _peaks(x: F64, min_rel: float) -> list[float]:
    """Local maxima above ``min_rel * max``, refined to sub-sample position (parabola)."""
    out: list[float] = []
    thr = min_rel * float(x.max()) if x.size else 0.0
    for i in range(1, x.size - 1):
        if x[i] >= thr and x[i] > x[i - 1] and x[i] >= x[i + 1]:
            a, b, c = x[i - 1], x[i], x[i + 1]
            den = a - 2 * b + c
            out.append(i + (0.5 * (a - c) / den if den != 0 else 0.0))
    return out


def peak_offsets_ms(
    mouth: F64, mouth_rate: float, energy: F64, energy_rate: float, window_ms: float = 100.0
) -> F64:
    """For each mouth-opening peak, the time to the nearest audio-energy peak (ms, mouth minus audio).

    Sample ``i`` of either series stands for the interval centred on ``(i + 0.5) / rate``.
    Peaks with no audio peak within ``window_ms`` are skipped.
    """
    mp = [(p + 0.5) / mouth_rate for p in _peaks(mouth, 0.3)]
    ep = np.array([(p + 0.5) / energy_rate for p in _peaks(energy, 0.2)])
    offsets = []
    for t in mp:
        if ep.size == 0:
            break
        d = t - ep
        j = int(np.argmin(np.abs(d)))
        if abs(d[j]) * 1000 <= window_ms:
            offsets.append(d[j] * 1000)
    return np.array(offsets)


def speech_envelope(
    pcm: npt.NDArray[np.int16], sample_rate: int, rate: float = 100.0, smooth_ms: float = 40.0
) -> F64:
    """RMS envelope at exactly ``rate`` Hz, smoothed over ``smooth_ms`` (the syllable scale).

    Sample ``i`` covers ``[round(i * sr / rate), round((i + 1) * sr / rate))``: hops are
    not rounded to whole samples, so the envelope does not drift against the audio
    (22050 Hz at 100 Hz would otherwise lose 0.5 sample per hop, 23 ms per 10 s).
    """
    n = int(pcm.size * rate / sample_rate)
    if n == 0:
        return np.zeros(0)
    bounds = np.round(np.arange(n + 1) * (sample_rate / rate)).astype(np.int64)
    power = pcm[: bounds[-1]].astype(np.float64) ** 2
    env = np.sqrt(np.add.reduceat(power, bounds[:-1]) / np.diff(bounds))
    k = max(1, int(smooth_ms / 1000 * rate))
    kernel = np.hanning(2 * k + 1)
    return np.convolve(env, kernel / kernel.sum(), mode="same")
