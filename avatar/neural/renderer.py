"""NeuralRenderer: a lip-sync network (GPU when present) over a prepared photo asset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from avatar.base import Image
from avatar.clock import FrameClock
from avatar.engine import FrameContext
from avatar.neural.model import FACE, MELS, STEPS, Device, LipSyncModel, mel_filterbank
from avatar.photo.asset import SIZE
from avatar.photo.renderer import PhotoRenderer

F32 = npt.NDArray[np.float32]


class NeuralRenderer(PhotoRenderer):
    """Same contract as the other renderers; the mouth comes from the network.

    Each frame feeds the last 0.2 s of speech (log-mel, 80 x 16) and the face crop
    to the model and blends the generated lower face back in; blinks, gaze, brows
    and expressions come from the photo rig. The head is kept still so the
    generated face lines up with the crop it was made from. Offered only when
    ``avatar.neural_model_path`` is set.
    """

    head_motion = False

    def __init__(
        self,
        asset_path: str | Path,
        model_path: str | Path,
        *,
        device: Device = "auto",
        size: int = 512,
        fps: int = 25,
        sample_rate: int = 22050,
        seed: int | None = None,
        clock: FrameClock | None = None,
        render_in_thread: bool = True,
        max_lag_frames: int = 5,
        idle_frame_stride: int = 1,
    ) -> None:
        super().__init__(
            asset_path,
            size=size,
            fps=fps,
            sample_rate=sample_rate,
            seed=seed,
            clock=clock,
            render_in_thread=render_in_thread,
            max_lag_frames=max_lag_frames,
            idle_frame_stride=idle_frame_stride,
        )
        self.model = LipSyncModel(model_path, device)
        win = int(0.2 * sample_rate)
        self._history = np.zeros(win, np.float32)
        self._n_fft = 1 << int(np.ceil(np.log2(win / STEPS * 4)))
        self._hop = win // STEPS
        self._fb = mel_filterbank(sample_rate, self._n_fft)
        self._hann = np.hanning(self._n_fft).astype(np.float32)
        (lx, ly), (rx, ry) = self.asset.eyes
        mx, my = self.asset.mouth
        cx, cy = (lx + rx + 2 * mx) / 4, (ly + ry + 2 * my) / 4
        half = 1.15 * float(np.hypot(rx - lx, ry - ly))
        self.face_box = (
            max(0, int(cx - half)),
            max(0, int(cy - half)),
            min(SIZE, int(cx + half)),
            min(SIZE, int(cy + half)),
        )
        x0, y0, x1, y1 = self.face_box
        ref = cv2.resize(self.asset.face[y0:y1, x0:x1], (FACE, FACE), interpolation=cv2.INTER_AREA)
        self._face_in = np.zeros((1, 6, FACE, FACE), np.float32)
        chw = ref.transpose(2, 0, 1).astype(np.float32) / 255.0
        self._face_in[0, :3] = chw
        self._face_in[0, 3:] = chw
        self._face_in[0, :3, FACE // 2 :] = 0.0
        ramp = np.clip((np.arange(y1 - y0) - 0.45 * (y1 - y0)) / (0.1 * (y1 - y0)), 0, 1).astype(np.float32)
        self._blend = np.repeat(ramp[:, None, None], x1 - x0, axis=1)
        self.last_audio_features = np.zeros((1, 1, MELS, STEPS), np.float32)

    def _mel(self, audio: npt.NDArray[np.int16]) -> F32:
        n = min(audio.size, self._history.size)
        if n:
            self._history[:-n] = self._history[n:]
            self._history[-n:] = audio[-n:].astype(np.float32) / 32768.0
        pad = np.pad(self._history, (self._n_fft // 2, self._n_fft // 2))
        frames = np.stack(
            [pad[i * self._hop : i * self._hop + self._n_fft] * self._hann for i in range(STEPS)]
        )
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        mel = np.log10(np.maximum(self._fb @ power.T, 1e-5)).astype(np.float32)
        return np.asarray(mel[None, None], dtype=np.float32)

    def _draw(self, ctx: FrameContext, out: Image) -> None:
        speaking = ctx.speaking and ctx.audio.size > 0
        if not speaking:
            super()._draw(ctx, out)
            return
        canvas = out if self.size == SIZE else self._canvas
        np.copyto(canvas, self.asset.face)
        self.rig.render(self.asset.face, self._pose(ctx, 0.0, 0.5 * ctx.motion.smile), canvas)
        self.last_audio_features = self._mel(ctx.audio)
        pred = self.model(self.last_audio_features, self._face_in)[0]
        x0, y0, x1, y1 = self.face_box
        gen = cv2.resize(
            np.clip(pred.transpose(1, 2, 0) * 255.0, 0, 255).astype(np.uint8), (x1 - x0, y1 - y0)
        )
        roi = canvas[y0:y1, x0:x1]
        roi[:] = (roi * (1 - self._blend) + gen * self._blend).astype(np.uint8)
        if canvas is not out:
            cv2.resize(canvas, (self.size, self.size), dst=out, interpolation=cv2.INTER_AREA)
