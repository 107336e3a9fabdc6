"""PhotoRenderer: any frontal portrait as a lip-synced avatar (CPU)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from avatar.base import Image
from avatar.clock import FrameClock
from avatar.engine import FrameContext, PacedRenderer
from avatar.errors import AvatarConfigError
from avatar.photo.asset import SIZE, PhotoAsset, load_photo_asset
from avatar.photo.rig import PhotoRig, Pose
from avatar.visemes import OPEN, PRESS, ROUND, TEETH_LO, TEETH_UP, WIDTH

F32 = npt.NDArray[np.float32]
_XS = np.linspace(-1.0, 1.0, 17)


class PhotoRenderer(PacedRenderer):
    """Brings a prepared portrait to life with one remap per frame (see ``PhotoRig``).

    The mouth opens and shapes per viseme, the lids blink, the irises follow the
    gaze, the head sways, breathes and tilts with the state, and the mouth corners
    and brows carry the expression. Renders at the asset's 512x512 and resizes
    when ``size`` differs.
    """

    def __init__(
        self,
        asset_path: str | Path,
        *,
        size: int = 512,
        fps: int = 25,
        sample_rate: int = 22050,
        seed: int | None = None,
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
        self.asset: PhotoAsset = load_photo_asset(asset_path)
        if size != SIZE and size <= 0:
            raise AvatarConfigError(f"invalid size {size}")
        self.rig = PhotoRig(self.asset)
        self._bend = self.asset.lip_curve * self.asset.mouth_half_width * (_XS / 0.6) ** 2
        self._canvas = np.zeros((SIZE, SIZE, 3), np.uint8)
        mx, my = self.asset.mouth
        a = self.asset.mouth_half_width
        self.mouth_box = (int(mx - 1.1 * a), int(my - 0.5 * a), int(mx + 1.1 * a) + 1, int(my + 0.9 * a) + 1)

    #: Sway, breathe and tilt the head (subclasses that paste generated faces keep it still).
    head_motion = True

    def _pose(self, ctx: FrameContext, open_: float, wide: float) -> Pose:
        pose = Pose.from_motion(ctx.motion, open_, wide)
        if not self.head_motion:
            pose = replace(pose, tx=0.0, ty=0.0, roll=0.0)
        return pose

    def _draw(self, ctx: FrameContext, out: Image) -> None:
        canvas = out if self.size == SIZE else self._canvas
        face = self.asset.face
        np.copyto(canvas, face)
        p = ctx.mouth
        o = float(p[OPEN]) * (1.0 - float(p[PRESS]))
        mo = ctx.motion
        wide = float(p[WIDTH]) - 0.4 * float(p[ROUND]) + 0.5 * mo.smile - 0.3 * mo.concern
        pose = self._pose(ctx, o, wide)
        self.rig.render(face, pose, canvas)
        if o > 0.03:
            self._cavity(canvas, o, wide, p, self.rig.head_offset(pose, self.asset.mouth))
        if canvas is not out:
            cv2.resize(canvas, (self.size, self.size), dst=out, interpolation=cv2.INTER_AREA)

    def _cavity(
        self, img: Image, o: float, wide: float, p: npt.NDArray[np.float64], shift: tuple[float, float]
    ) -> None:
        mx, my = self.asset.mouth[0] + shift[0], self.asset.mouth[1] + shift[1]
        a = self.asset.mouth_half_width * (1 + 0.1 * wide) * 0.82
        lips = np.clip(1 - _XS**2, 0, 1) ** 0.8
        xs = mx + _XS * a
        bend = self._bend * (1.0 - 0.5 * o)  # a smiling lip line rises towards the corners
        top = my - 0.08 * self.asset.mouth_half_width * o * lips - bend
        bot = my + 0.47 * self.asset.mouth_half_width * o * lips * 0.85 - bend
        self._poly(img, xs, top, bot, (58, 20, 26))
        gap = bot - top
        if p[TEETH_UP] > 0.05 and not self.asset.teeth_visible:
            self._poly(
                img,
                xs[2:-2],
                top[2:-2],
                np.minimum(top + 0.22 * a * float(p[TEETH_UP]), bot)[2:-2],
                (226, 220, 210),
            )
        if p[TEETH_LO] > 0.05:
            self._poly(
                img,
                xs[3:-3],
                np.maximum(bot - 0.12 * a * float(p[TEETH_LO]), top)[3:-3],
                bot[3:-3],
                (206, 198, 190),
            )
        if gap.max() > 2:
            cv2.GaussianBlur(
                img[int(my - a) : int(my + a), int(mx - 1.2 * a) : int(mx + 1.2 * a)],
                (3, 3),
                0,
                dst=img[int(my - a) : int(my + a), int(mx - 1.2 * a) : int(mx + 1.2 * a)],
            )

    @staticmethod
    def _poly(
        img: Image,
        xs: F32 | npt.NDArray[np.float64],
        top: npt.NDArray[np.float64],
        bot: npt.NDArray[np.float64],
        color: tuple[int, int, int],
    ) -> None:
        pts = np.concatenate([np.stack([xs, top], 1), np.stack([xs[::-1], bot[::-1]], 1)])
        cv2.fillPoly(img, [np.round(pts * 16).astype(np.int32)], color, cv2.LINE_AA, 4)
