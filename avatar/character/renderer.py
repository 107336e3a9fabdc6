"""CharacterRenderer: the default CPU avatar, a bank teller drawn in code."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from avatar.base import Image
from avatar.character.face import FacePainter
from avatar.character.palette import DEFAULT_LOOK, Look
from avatar.character.scene import background_with_body, head_layer
from avatar.clock import FrameClock
from avatar.engine import FrameContext, PacedRenderer

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
_BREATH_STEPS = 5
TILT_STEP = 0.25
MAX_TILT = 4.0
MIN_DY, MAX_DY = -3, 4


@dataclass(frozen=True)
class CharacterAssets:
    """Pre-rendered static layers, shared by every renderer of one size and look."""

    bodies: tuple[U8, ...]
    head_rgba: U8
    head_box: tuple[int, int, int, int]


@lru_cache(maxsize=4)
def character_assets(size: int, look: Look = DEFAULT_LOOK) -> CharacterAssets:
    """Render (once per process) the backdrop at a few breathing offsets and the head."""
    bodies = tuple(
        background_with_body(size, look, dy=-1.6 * i / (_BREATH_STEPS - 1)) for i in range(_BREATH_STEPS)
    )
    premult, alpha = head_layer(size, look)
    rgba = np.dstack([premult, np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)])
    ys, xs = np.nonzero(alpha > 0.002)
    margin = int(0.05 * size)
    collar = int(look.collar_y * size / 512.0) - 2
    box = (
        max(0, int(xs.min()) - margin),
        max(0, int(ys.min()) - margin),
        min(size, int(xs.max()) + 1 + margin),
        min(collar, int(ys.max()) + 1 + margin),
    )
    return CharacterAssets(bodies, rgba, box)


def head_pose(size: int, look: Look, tilt_deg: float, dy: float) -> F64:
    """Affine 2x3 from design units (512 frame) to pixels: roll about the neck, then lift."""
    s = size / 512.0
    a = math.radians(tilt_deg)
    c, si = math.cos(a), math.sin(a)
    px, py = look.face_cx, look.pivot_y
    return np.array(
        [[c * s, -si * s, (px - c * px + si * py) * s], [si * s, c * s, (py - si * px - c * py + dy) * s]]
    )


@lru_cache(maxsize=400)
def head_patch(size: int, look: Look, tilt_key: int, dy_key: int) -> U8:
    """The head composited over the backdrop inside the head box, for one quantised pose.

    Shared by every renderer in the process: 33 tilts x 8 lifts, ~58 MB at 512.
    """
    assets = character_assets(size, look)
    x0, y0, x1, y1 = assets.head_box
    m = head_pose(size, look, tilt_key * TILT_STEP, float(dy_key))
    layer = np.vstack([m, [0.0, 0.0, 1.0]]) @ np.diag([512.0 / size, 512.0 / size, 1.0])
    layer[0, 2] -= x0
    layer[1, 2] -= y0
    warped = cv2.warpAffine(assets.head_rgba, layer[:2], (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    alpha = warped[..., 3:4].astype(np.float32) / 255.0
    base = assets.bodies[0][y0:y1, x0:x1].astype(np.float32)
    out = base * (1.0 - alpha) + warped[..., :3].astype(np.float32)
    patch = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    patch.setflags(write=False)
    return patch


@lru_cache(maxsize=4)
def warm_head_patches(size: int, look: Look = DEFAULT_LOOK) -> int:
    """Render every quantised head pose once per process (about a second), so no
    frame ever pays for a cache miss. Returns the number of poses."""
    keys = [(t, d) for t in range(-16, 17) for d in range(MIN_DY, MAX_DY + 1)]
    for tilt_key, dy_key in keys:
        head_patch(size, look, tilt_key, dy_key)
    return len(keys)


class CharacterRenderer(PacedRenderer):
    """The drawn bank teller: 15 mouth shapes, blinks, gaze, breathing, states, expressions.

    Static layers are rendered once per process; a frame copies the backdrop,
    rotates the head layer inside its bounding box and draws eyes, brows and mouth.
    """

    def __init__(
        self,
        *,
        size: int = 512,
        fps: int = 25,
        sample_rate: int = 22050,
        seed: int | None = None,
        look: Look = DEFAULT_LOOK,
        clock: FrameClock | None = None,
        render_in_thread: bool = False,
        max_lag_frames: int = 5,
        idle_frame_stride: int = 1,
    ) -> None:
        super().__init__(
            size=size,
            fps=fps,
            sample_rate=sample_rate,
            seed=seed,
            clock=clock,
            render_in_thread=render_in_thread,
            max_lag_frames=max_lag_frames,
            idle_frame_stride=idle_frame_stride,
        )
        self.look = look
        self._assets = character_assets(size, look)
        self._painter = FacePainter(size, look)
        warm_head_patches(size, look)

    @property
    def mouth_box(self) -> tuple[int, int, int, int]:
        """Pixel box ``(x0, y0, x1, y1)`` around the mouth in the last frame."""
        return self._painter.mouth_box

    def _draw(self, ctx: FrameContext, out: Image) -> None:
        mo = ctx.motion
        breath = (mo.breath + 1) / 2
        np.copyto(out, self._assets.bodies[min(_BREATH_STEPS - 1, int(breath * _BREATH_STEPS))])
        tilt_key = round(max(-MAX_TILT, min(MAX_TILT, mo.tilt_deg)) / TILT_STEP)
        dy_key = round(max(MIN_DY, min(MAX_DY, mo.head_dy)))
        x0, y0, x1, y1 = self._assets.head_box
        out[y0:y1, x0:x1] = head_patch(self.size, self.look, tilt_key, dy_key)
        m = head_pose(self.size, self.look, tilt_key * TILT_STEP, float(dy_key))
        self._painter.draw(out, m, ctx.mouth, mo)
