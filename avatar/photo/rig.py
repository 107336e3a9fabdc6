"""PhotoRig: one remap per frame that moves head, mouth, lids, irises and brows of a portrait.

Every movement is a displacement field (source minus output, pixels) built once
from the asset's landmarks; a frame scales and sums them into preallocated
sampling maps over the head box and remaps the photo through them once:

- head: translation and a small roll about the neck, full inside an ellipse
  around the face and fading out over the hair and collar (sway, breathing, nods);
- mouth: opening and widening (the asset's maps), corners lifted for a smile or
  lowered for concern;
- eyes: lids closing (the asset's maps) and the iris shifted for gaze;
- brows: raised when listening, inner ends raised and drawn together for concern.

Fields are summed instead of composed, which is exact to within the head shift
(a few pixels) of very smooth fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from avatar.motion import Motion
from avatar.photo.asset import SIZE, Box, PhotoAsset, Region

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

#: Photo heads move less than the drawn one: a real face sways by a pixel or two.
TILT_GAIN = 0.6
SHIFT_GAIN = 0.7


@dataclass(frozen=True)
class Pose:
    """The scalar weights of one frame (pixels, radians or 0..1)."""

    tx: float
    ty: float
    roll: float
    open: float
    wide: float
    smile: float
    blink: float
    gaze_x: float
    gaze_y: float
    brow_raise: float
    concern: float

    @classmethod
    def from_motion(cls, m: Motion, open_: float, wide: float) -> Pose:
        """Weights for one frame from the animator's motion and the mouth parameters."""
        return cls(
            tx=SHIFT_GAIN * m.head_dx,
            ty=SHIFT_GAIN * m.head_dy,
            roll=float(np.radians(TILT_GAIN * m.tilt_deg)),
            open=open_,
            wide=wide,
            smile=m.smile - 0.6 * m.concern,
            blink=m.blink,
            gaze_x=m.gaze_x,
            gaze_y=m.gaze_y,
            brow_raise=0.8 * m.attentive + 0.3 * m.concern,
            concern=m.concern,
        )


class _Patch:
    """A field region inside the head box and its preallocated scratch."""

    def __init__(self, head: Box, box: Box) -> None:
        hx0, hy0, hx1, hy1 = head
        x0, y0 = max(box[0], hx0), max(box[1], hy0)
        x1, y1 = min(box[2], hx1), min(box[3], hy1)
        self.box = (x0, y0, x1, y1)
        self.view = (slice(y0 - hy0, y1 - hy0), slice(x0 - hx0, x1 - hx0))
        self.scratch = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.float32)

    def crop(self, field: F32, field_box: Box) -> F32:
        """The part of ``field`` (laid out over ``field_box``) inside this patch."""
        fx0, fy0 = field_box[0], field_box[1]
        x0, y0, x1, y1 = self.box
        return np.ascontiguousarray(field[y0 - fy0 : y1 - fy0, x0 - fx0 : x1 - fx0])

    def add(self, target: F32, field: F32, weight: float) -> None:
        """``target[view] += weight * field`` without allocating."""
        if weight == 0.0 or self.scratch.size == 0:
            return
        np.multiply(field, np.float32(weight), out=self.scratch)
        view = target[self.view]
        np.add(view, self.scratch, out=view)


def _grid(box: Box) -> tuple[F32, F32]:
    ys, xs = np.mgrid[box[1] : box[3], box[0] : box[2]].astype(np.float32)
    return xs, ys


def _clip_box(x0: float, y0: float, x1: float, y1: float) -> Box:
    return (max(0, int(x0)), max(0, int(y0)), min(SIZE, int(np.ceil(x1))), min(SIZE, int(np.ceil(y1))))


class PhotoRig:
    """Displacement fields of one portrait and the maps a frame is sampled through."""

    def __init__(self, asset: PhotoAsset) -> None:
        self.asset = asset
        (lx, ly), (rx, ry) = asset.eyes
        my = asset.mouth[1]
        iod = float(np.hypot(rx - lx, ry - ly))
        self.iod = iod
        cx, cy = (lx + rx) / 2, (ly + ry + 2 * my) / 4
        ax, ay = 1.05 * iod, 1.45 * iod  # face ellipse (forehead to chin)
        self.head_box = _clip_box(cx - 1.35 * ax, cy - 1.35 * ay, cx + 1.35 * ax, cy + 1.35 * ay)
        xs, ys = _grid(self.head_box)
        r = np.sqrt(((xs - cx) / ax) ** 2 + ((ys - cy) / ay) ** 2)
        mask = (0.5 + 0.5 * np.cos(np.pi * np.clip((r - 1.0) / 0.35, 0.0, 1.0))).astype(np.float32)
        self.pivot = (cx, my + 1.1 * iod)
        self.base_x, self.base_y = xs, ys
        self.mask = mask
        self.rot_x = ((ys - self.pivot[1]) * mask).astype(np.float32)
        self.rot_y = (-(xs - self.pivot[0]) * mask).astype(np.float32)
        self.map_x, self.map_y = xs.copy(), ys.copy()
        h, w = xs.shape
        self.patch = np.zeros((h, w, 3), np.uint8)
        self._mouth = self._region_patch(asset.mouth_region)
        self._smile = self._mouth_corner_fields(asset.mouth, asset.mouth_half_width)
        self._eyes = [self._region_patch(reg) for reg in asset.eye_regions]
        self._gaze = [self._iris_fields(e, asset.eye_width) for e in asset.eyes]
        self._brows = [self._brow_fields(e, asset.eye_width, (lx + rx) / 2) for e in asset.eyes]

    # -- building ---------------------------------------------------------

    def _region_patch(self, region: Region) -> tuple[_Patch, dict[str, F32]]:
        patch = _Patch(self.head_box, region.box)
        return patch, {k: patch.crop(v, region.box) for k, v in region.fields.items()}

    def _mouth_corner_fields(self, mouth: tuple[float, float], a: float) -> tuple[_Patch, F32, F32]:
        mx, my = mouth
        box = _clip_box(mx - 2.0 * a, my - 1.0 * a, mx + 2.0 * a, my + 1.2 * a)
        xs, ys = _grid(box)
        sigma = 0.42 * a
        dy = np.zeros_like(xs)
        dx = np.zeros_like(xs)
        for side in (-1.0, 1.0):
            w = np.exp(-((xs - (mx + side * 0.95 * a)) ** 2 + (ys - my) ** 2) / (2 * sigma**2))
            dy += 0.2 * a * w  # positive: content moves up
            dx += -side * 0.07 * a * w  # corners move outwards
        patch = _Patch(self.head_box, box)
        return patch, patch.crop(dx.astype(np.float32), box), patch.crop(dy.astype(np.float32), box)

    def _iris_fields(self, eye: tuple[float, float], ew: float) -> tuple[_Patch, F32, F32]:
        ex, ey = eye
        box = _clip_box(ex - 0.6 * ew, ey - 0.35 * ew, ex + 0.6 * ew, ey + 0.35 * ew)
        xs, ys = _grid(box)
        u, v = (xs - ex) / (0.48 * ew), (ys - ey) / (0.24 * ew)
        w = (np.clip(1.0 - u**2 - v**2, 0.0, 1.0) ** 1.5).astype(np.float32)
        patch = _Patch(self.head_box, box)
        shift = patch.crop(w, box)
        return patch, (-0.11 * ew * shift).astype(np.float32), (-0.05 * ew * shift).astype(np.float32)

    def _brow_fields(self, eye: tuple[float, float], ew: float, mid_x: float) -> tuple[_Patch, F32, F32, F32]:
        ex, ey = eye
        by = ey - 0.62 * ew
        inward = 1.0 if mid_x > ex else -1.0
        box = _clip_box(ex - 1.0 * ew, by - 0.55 * ew, ex + 1.0 * ew, by + 0.45 * ew)
        xs, ys = _grid(box)
        whole = np.exp(-(((xs - ex) / (0.55 * ew)) ** 2) - ((ys - by) / (0.28 * ew)) ** 2)
        ix = ex + inward * 0.42 * ew
        inner = np.exp(-(((xs - ix) / (0.32 * ew)) ** 2) - ((ys - by) / (0.26 * ew)) ** 2)
        patch = _Patch(self.head_box, box)
        raise_dy = patch.crop((0.13 * ew * whole).astype(np.float32), box)
        inner_dy = patch.crop((0.12 * ew * inner).astype(np.float32), box)
        inner_dx = patch.crop((-inward * 0.06 * ew * inner).astype(np.float32), box)
        return patch, raise_dy, inner_dy, inner_dx

    # -- per frame ----------------------------------------------------------

    def head_offset(self, pose: Pose, point: tuple[float, float]) -> tuple[float, float]:
        """Where the head motion moves ``point`` (inside the face), as an output offset."""
        px, py = self.pivot
        return (
            pose.tx - pose.roll * (point[1] - py),
            pose.ty + pose.roll * (point[0] - px),
        )

    def render(self, face: U8, pose: Pose, out: U8) -> None:
        """Sample ``face`` through every field weighted by ``pose`` into ``out``'s head box."""
        mx, my = self.map_x, self.map_y
        cv2.scaleAdd(self.mask, -pose.tx, self.base_x, dst=mx)
        cv2.scaleAdd(self.rot_x, pose.roll, mx, dst=mx)
        cv2.scaleAdd(self.mask, -pose.ty, self.base_y, dst=my)
        cv2.scaleAdd(self.rot_y, pose.roll, my, dst=my)
        patch, f = self._mouth
        patch.add(mx, f["wide_dx"], pose.wide)
        patch.add(my, f["open_dy"], pose.open)
        corners, cdx, cdy = self._smile
        corners.add(mx, cdx, pose.smile)
        corners.add(my, cdy, pose.smile)
        for (lid, fields), (iris, gdx, gdy) in zip(self._eyes, self._gaze, strict=True):
            iris.add(mx, gdx, pose.gaze_x * (1.0 - pose.blink))
            iris.add(my, gdy, pose.gaze_y * (1.0 - pose.blink))
            lid.add(my, fields["close_dy"], pose.blink)
        for brow, raise_dy, inner_dy, inner_dx in self._brows:
            brow.add(my, raise_dy, pose.brow_raise)
            brow.add(my, inner_dy, pose.concern)
            brow.add(mx, inner_dx, pose.concern)
        cv2.remap(face, mx, my, cv2.INTER_LINEAR, dst=self.patch, borderMode=cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = self.head_box
        out[y0:y1, x0:x1] = self.patch
