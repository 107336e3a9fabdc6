"""AvatarSettings: the avatar section of the server configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AvatarSettings(BaseModel):
    """Which renderer to build and how.

    ``kind``: ``character`` (drawn bank teller, CPU, default), ``photo`` (a portrait
    prepared with ``build_photo_asset``; ``asset_path`` is its directory) or
    ``neural`` (lip-sync network at ``neural_model_path`` over a photo asset).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["character", "photo", "neural"] = "character"
    asset_path: Path | None = None
    size: int = Field(default=512, ge=128, le=2048, multiple_of=16)
    fps: int = Field(default=25, ge=5, le=60)
    sample_rate: int = Field(default=22050, ge=8000, le=48000)
    seed: int | None = 7
    neural_model_path: Path | None = None
    neural_device: Literal["auto", "cpu", "cuda"] = "auto"
    render_in_thread: bool = False
    max_lag_frames: int = Field(default=5, ge=1, le=250)
    #: While the avatar is not speaking, one frame in this many is drawn and sent
    #: (2: 12.5 fps at 25): blinks and sway stay smooth, half the video work while
    #: the customer speaks. Speech is always drawn at ``fps``.
    idle_frame_stride: int = Field(default=2, ge=1, le=25)

    @model_validator(mode="after")
    def _check_kind(self) -> AvatarSettings:
        if self.kind == "photo" and self.asset_path is None:
            raise ValueError("avatar.kind=photo needs avatar.asset_path (a built photo asset)")
        if self.kind == "neural" and self.neural_model_path is None:
            raise ValueError("avatar.kind=neural needs avatar.neural_model_path (a local model file)")
        return self
