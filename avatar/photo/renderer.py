"""PhotoRenderer: any frontal portrait as a lip-synced avatar (CPU)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from avatar.base import Image
from avatar.clock import FrameClock
from avatar.engine import FrameContext, PacedRenderer
from avatar.errors import AvatarConfigError
from avatar.photo.asset import SIZE, PhotoAsset, Region, load_photo_asset
from avatar.visemes import OPEN, PRESS, ROUND, TEETH_LO, TEETH_UP, WIDTH

F32 = npt.NDArray[np.float32]
_XS = np.linspace(-1.0, 1.0, 17)


class _Warp:
    """Preallocated identity grid and output patch for one region."""

    def __init__(self, region: Region) -> None:
        x0, y0, x1, y1 = region.box
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self.region = region
        self.base_x, self.base_y = xs, ys
        self.map_x, self.map_y = xs.copy(), ys.copy()
        self.patch = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)

    def apply(
        self, face: Image, out: Image, dx: tuple[float, str] | None, dy: tuple[float, str] | None
    ) -> None:
        f = self.region.fields
        if dx is not None:
            cv2.scaleAdd(f[dx[1]], dx[0], self.base_x, dst=self.map_x)
        else:
            np.copyto(self.map_x, self.base_x)
        if dy is not None:
            cv2.scaleAdd(f[dy[1]], dy[0], self.base_y, dst=self.map_y)
        else:
            np.copyto(self.map_y, self.base_y)
        cv2.remap(
            face, self.map_x, self.map_y, cv2.INTER_LINEAR, dst=self.patch, borderMode=cv2.BORDER_REPLICATE
        )
        x0, y0, x1, y1 = self.region.box
        out[y0:y1, x0:x1] = self.patch


class PhotoRenderer(PacedRenderer):
    """Warps the mouth per viseme and closes the eyelids over a prepared portrait.

    Renders at the asset's 512x512 and resizes when ``size`` differs.
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
    ) -> None:
        super().__init__(
            size=size,
            fps=fps,
            sample_rate=sample_rate,
            seed=seed,
            clock=clock,
            render_in_thread=render_in_thread,
            max_lag_frames=max_lag_frames,
        )
        self.asset: PhotoAsset = load_photo_asset(asset_path)
        if size != SIZE and size <= 0:
            raise AvatarConfigError(f"invalid size {size}")
        self._mouth_warp = _Warp(self.asset.mouth_region)
        self._eye_warps = tuple(_Warp(r) for r in self.asset.eye_regions)
        self._canvas = np.zeros((SIZE, SIZE, 3), np.uint8)
        mx, my = self.asset.mouth
        a = self.asset.mouth_half_width
        self.mouth_box = (int(mx - 1.1 * a), int(my - 0.5 * a), int(mx + 1.1 * a) + 1, int(my + 0.9 * a) + 1)

    def _draw(self, ctx: FrameContext, out: Image) -> None:
        canvas = out if self.size == SIZE else self._canvas
        face = self.asset.face
        np.copyto(canvas, face)
        p = ctx.mouth
        o = float(p[OPEN]) * (1.0 - float(p[PRESS]))
        wide = float(p[WIDTH]) - 0.4 * float(p[ROUND]) + 0.5 * ctx.motion.smile
        if o > 0.01 or abs(wide) > 0.02:
            self._mouth_warp.apply(face, canvas, (wide, "wide_dx"), (o, "open_dy"))
            if o > 0.03:
                self._cavity(canvas, o, wide, p)
        if ctx.motion.blink > 0.02:
            for warp in self._eye_warps:
                warp.apply(face, canvas, None, (ctx.motion.blink, "close_dy"))
        if canvas is not out:
            cv2.resize(canvas, (self.size, self.size), dst=out, interpolation=cv2.INTER_AREA)

    def _cavity(self, img: Image, o: float, wide: float, p: npt.NDArray[np.float64]) -> None:
        mx, my = self.asset.mouth
        a = self.asset.mouth_half_width * (1 + 0.1 * wide) * 0.82
        lips = np.clip(1 - _XS**2, 0, 1) ** 0.8
        xs = mx + _XS * a
        top = my - 0.08 * self.asset.mouth_half_width * o * lips
        bot = my + 0.47 * self.asset.mouth_half_width * o * lips * 0.85
        self._poly(img, xs, top, bot, (58, 20, 26))
        gap = bot - top
        if p[TEETH_UP] > 0.05:
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
