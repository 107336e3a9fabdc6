from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from avatar import (
    AvatarModelError,
    AvatarSettings,
    OfflineClock,
    available_kinds,
    build_photo_asset,
    create_renderer,
)
from avatar.neural.renderer import NeuralRenderer

pytestmark = pytest.mark.asyncio


class TinyLipSyncNet(torch.nn.Module):
    """A randomly initialised stand-in with Wav2Lip's input/output shapes (no quality)."""

    def __init__(self) -> None:
        super().__init__()
        self.audio = torch.nn.Linear(80 * 16, 8)
        self.face = torch.nn.Conv2d(6 + 8, 3, kernel_size=3, padding=1)

    def forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        a = self.audio(audio.flatten(1))[:, :, None, None].expand(-1, -1, face.shape[2], face.shape[3])
        return torch.sigmoid(self.face(torch.cat([face, a], dim=1)))


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("neural")
    photo = root / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return build_photo_asset(photo, "eileen", root)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt2"
    _export(TinyLipSyncNet(), path)
    return path


def _export(net: torch.nn.Module, path: Path) -> None:
    example = (torch.zeros(1, 1, 80, 16), torch.zeros(1, 6, 96, 96))
    torch.export.save(torch.export.export(net, example), str(path))


class WrongShapeNet(torch.nn.Module):
    def forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        return face[:, :3, :48]


async def test_not_offered_without_a_model(asset: Path) -> None:
    assert "neural" not in available_kinds(AvatarSettings(kind="photo", asset_path=asset))
    assert "neural" in available_kinds(
        AvatarSettings(kind="photo", asset_path=asset, neural_model_path=Path("m.pt2"))
    )


async def test_loading_errors_are_clear(asset: Path, tmp_path: Path) -> None:
    with pytest.raises(AvatarModelError, match="not found"):
        NeuralRenderer(asset, tmp_path / "nope.pt2")
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"x")
    with pytest.raises(AvatarModelError, match="unsupported model format"):
        NeuralRenderer(asset, bad)
    corrupt = tmp_path / "corrupt.pt2"
    corrupt.write_bytes(b"not an exported program")
    with pytest.raises(AvatarModelError, match=r"cannot load torch\.export"):
        NeuralRenderer(asset, corrupt)
    wrong = tmp_path / "wrong.pt2"
    _export(WrongShapeNet(), wrong)
    with pytest.raises(AvatarModelError, match=r"expected \(1, 3"):
        NeuralRenderer(asset, wrong)
    if not torch.cuda.is_available():
        with pytest.raises(AvatarModelError, match="CUDA"):
            NeuralRenderer(asset, wrong, device="cuda")


async def test_frames_flow_through_a_tiny_random_network(asset: Path, tiny_model: Path) -> None:
    settings = AvatarSettings(
        kind="neural", asset_path=asset, neural_model_path=tiny_model, sample_rate=16000, neural_device="cpu"
    )
    r = create_renderer(settings, clock=OfflineClock(25))
    assert isinstance(r, NeuralRenderer)
    t = np.arange(16000) / 16000
    r.push_audio((0.3 * np.sin(2 * np.pi * 220 * t) * (t < 0.5)).astype(np.float32))
    r.end_of_speech()
    frames = []
    async for f in r.frames():
        frames.append((f.speaking, f.audio.size, f.image.copy()))
        if len(frames) == 30:
            break
    await r.aclose()
    assert [s for s, _, _ in frames[:25]] == [True] * 25 and not frames[26][0]
    assert {n for _, n, _ in frames[:25]} == {640}
    x0, y0, x1, y1 = r.face_box
    speaking, idle = frames[5][2], frames[28][2]
    lower = (slice(y0 + (y1 - y0) * 3 // 4, y1), slice(x0, x1))
    assert np.abs(speaking[lower].astype(int) - idle[lower].astype(int)).mean() > 3
    assert np.array_equal(speaking[: y0 - 1], idle[: y0 - 1])
    assert r.last_audio_features.shape == (1, 1, 80, 16) and np.isfinite(r.last_audio_features).all()
