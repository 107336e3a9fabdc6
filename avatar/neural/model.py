"""Loading a Wav2Lip-style lip-sync network from a local file (torch.export or ONNX).

Formats: ``.pt2`` (a ``torch.export`` program; TorchScript is deprecated in torch
2.13) or ``.onnx`` (onnxruntime). Interface (Wav2Lip's): inputs ``audio`` float32
(1, 1, 80, 16), a log-mel window of 0.2 s, and ``face`` float32 (1, 6, 96, 96),
the reference face and the same face with its lower half masked, both RGB in
0..1; output (1, 3, 96, 96) in 0..1.
No weights ship with the project: the path must point to a local file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from avatar.errors import AvatarModelError

F32 = npt.NDArray[np.float32]
FACE = 96
MELS, STEPS = 80, 16
Device = Literal["auto", "cpu", "cuda"]


class LipSyncModel:
    """A loaded lip-sync network; ``__call__(audio, face) -> (1, 3, 96, 96)``."""

    def __init__(self, path: str | Path, device: Device = "auto") -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AvatarModelError(
                f"neural avatar model not found: {self.path} (set avatar.neural_model_path to a local file)"
            )
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            self._run = self._load_onnx(device)
        elif suffix == ".pt2":
            self._run = self._load_torch_export(device)
        else:
            raise AvatarModelError(
                f"unsupported model format {suffix!r}: use torch.export (.pt2) or ONNX (.onnx)"
            )
        out = self(np.zeros((1, 1, MELS, STEPS), np.float32), np.zeros((1, 6, FACE, FACE), np.float32))
        if out.shape != (1, 3, FACE, FACE):
            raise AvatarModelError(
                f"model {self.path.name} returned shape {out.shape}, expected (1, 3, {FACE}, {FACE})"
            )

    def __call__(self, audio: F32, face: F32) -> F32:
        """Run the network on one frame."""
        try:
            result = self._run(audio, face)
        except Exception as exc:  # the runtimes raise many unrelated types
            raise AvatarModelError(f"model {self.path.name} failed: {exc}") from exc
        return np.asarray(result, dtype=np.float32)

    def _load_torch_export(self, device: Device) -> Any:
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise AvatarModelError("avatar.neural_device=cuda but CUDA is not available")
        dev = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
        self.device = str(dev)
        try:
            net = torch.export.load(str(self.path)).module().to(dev)
        except Exception as exc:
            raise AvatarModelError(f"cannot load torch.export model {self.path}: {exc}") from exc

        def run(audio: F32, face: F32) -> F32:
            with torch.inference_mode():
                out = net(torch.from_numpy(audio).to(dev), torch.from_numpy(face).to(dev))
            return np.asarray(out.float().cpu().numpy(), dtype=np.float32)

        return run

    def _load_onnx(self, device: Device) -> Any:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise AvatarModelError("avatar.neural_device=cuda but onnxruntime has no CUDA provider")
        providers = (
            ["CUDAExecutionProvider"] if device != "cpu" and "CUDAExecutionProvider" in available else []
        )
        providers.append("CPUExecutionProvider")
        self.device = providers[0]
        try:
            session = ort.InferenceSession(str(self.path), providers=providers)
        except Exception as exc:
            raise AvatarModelError(f"cannot load ONNX model {self.path}: {exc}") from exc
        names = [i.name for i in session.get_inputs()]
        if len(names) != 2:
            raise AvatarModelError(
                f"ONNX model {self.path.name} must take 2 inputs (audio, face), has {names}"
            )

        def run(audio: F32, face: F32) -> F32:
            return np.asarray(session.run(None, {names[0]: audio, names[1]: face})[0], dtype=np.float32)

        return run


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = MELS) -> F32:
    """HTK-style triangular mel filters, shape (n_mels, n_fft // 2 + 1)."""

    def hz_to_mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    mels = np.linspace(
        hz_to_mel(np.array(55.0)), hz_to_mel(np.array(min(7600.0, sample_rate / 2))), n_mels + 2
    )
    hz = 700.0 * (10 ** (mels / 2595.0) - 1)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((n_mels, bins.size), np.float32)
    for i in range(n_mels):
        lo, mid, hi = hz[i], hz[i + 1], hz[i + 2]
        fb[i] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return fb
