"""Per-frame facial features of the drawn teller: eyes (with blinks and gaze), brows, mouth.

Everything is computed as small point sets in 512 design units, mapped through the
head pose (a 2x3 affine) and drawn anti-aliased with sub-pixel precision directly
into the frame; eyes are composited through a small region of interest.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from avatar.character.palette import RGB, Look
from avatar.motion import Motion
from avatar.visemes import OPEN, PRESS, ROUND, TEETH_LO, TEETH_UP, TONGUE, TUCK, WIDTH

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
SHIFT = 4
_ONE = float(1 << SHIFT)
_XS = np.linspace(-1.0, 1.0, 21)


class FacePainter:
    """Draws the moving features for one size and look; holds its scratch buffers."""

    def __init__(self, size: int, look: Look) -> None:
        self.look = look
        self.scale = size / 512.0
        side = int(np.ceil(60 * self.scale)) + 8
        self._eye_rgb = np.zeros((side, side, 3), np.uint8)
        self._eye_mask = np.zeros((side, side), np.uint8)
        self._eye_f = np.zeros((side, side, 1), np.float32)
        self.mouth_box = (0, 0, 0, 0)

    def draw(self, img: U8, m: F64, mouth: F64, mo: Motion) -> None:
        """Draw brows, eyes and mouth into ``img`` with head pose ``m`` (design -> pixels)."""
        for side in (-1.0, 1.0):
            self._brow(img, m, side, mo)
            self._eye(img, m, side, mo)
        self._mouth(img, m, mouth, mo)

    # -- helpers -----------------------------------------------------------

    @staticmethod
    def _map(m: F64, x: F64, y: F64) -> npt.NDArray[np.int32]:
        px = m[0, 0] * x + m[0, 1] * y + m[0, 2]
        py = m[1, 0] * x + m[1, 1] * y + m[1, 2]
        return np.round(np.stack([px, py], axis=1) * _ONE).astype(np.int32).reshape(-1, 1, 2)

    @staticmethod
    def _poly(img: U8, pts: npt.NDArray[np.int32], color: RGB) -> None:
        cv2.fillPoly(img, [pts], color, cv2.LINE_AA, SHIFT)

    @staticmethod
    def _line(img: U8, pts: npt.NDArray[np.int32], color: RGB, thickness: int) -> None:
        cv2.polylines(img, [pts], False, color, thickness, cv2.LINE_AA, SHIFT)

    # -- brows -------------------------------------------------------------

    def _brow(self, img: U8, m: F64, side: float, mo: Motion) -> None:
        lk = self.look
        u = np.linspace(0.0, 1.0, 12)  # 0 inner .. 1 outer
        x = lk.face_cx + side * (lk.eye_dx - 15 + u * 34)
        lift = 3.5 * mo.attentive + 1.5 * mo.smile + 2.0 * max(0.0, -mo.gaze_y) * (1 - mo.attentive)
        inner = 5.0 * mo.concern
        y = (
            lk.brow_y
            - lift
            - 5.5 * np.sin(np.pi * (0.15 + 0.7 * u))
            - inner * (1 - u) ** 2
            + 1.0 * mo.concern * u
        )
        thick = 4.2 - 2.2 * u**1.5
        top = self._map(m, x, y - thick / 2)
        bottom = self._map(m, x[::-1], (y + thick / 2)[::-1])
        self._poly(img, np.concatenate([top, bottom]), lk.brow)

    # -- eyes --------------------------------------------------------------

    def _eye_curves(self, side: float, mo: Motion) -> tuple[F64, F64, F64]:
        lk = self.look
        xs = _XS * lk.eye_rx
        bell = np.clip(1 - _XS**2, 0, 1)
        slant = -1.6 * _XS * side
        up = lk.eye_up * (1 + 0.18 * mo.attentive - 0.22 * mo.smile)
        upper_open = -up * bell**0.75 + slant - 1.2 * _XS * side * (_XS * side > 0)
        lower = lk.eye_down * (1 - 0.35 * mo.smile) * bell**0.9 + slant
        upper = upper_open + (lower - upper_open) * mo.blink
        return xs, upper, lower

    def _eye(self, img: U8, m: F64, side: float, mo: Motion) -> None:
        lk = self.look
        ex, ey = lk.face_cx + side * lk.eye_dx, lk.eye_y
        xs, upper, lower = self._eye_curves(side, mo)
        almond = np.concatenate(
            [self._map(m, ex + xs, ey + upper), self._map(m, ex + xs[::-1], ey + lower[::-1])]
        )
        if mo.blink < 0.97:
            self._eye_ball(img, m, almond, (ex, ey), mo)
        lash = self._map(m, ex + xs * 1.04, ey + upper - 0.4)
        self._line(img, lash, lk.lash, max(1, round(2.4 * self.scale)))
        wing = self._map(
            m,
            ex + side * np.array([lk.eye_rx * 0.9, lk.eye_rx * 1.22]),
            ey + upper[[-3, -1] if side > 0 else [2, 0]] + np.array([-0.5, -2.6]),
        )
        self._line(img, wing, lk.lash, max(1, round(1.6 * self.scale)))
        crease_y = (
            ey
            - lk.eye_up * (1 + 0.18 * mo.attentive) * np.clip(1 - _XS**2, 0, 1) ** 0.7
            - 4.5
            + 1.5 * mo.blink
        )
        self._line(img, self._map(m, ex + xs[3:-3] * 1.02, crease_y[3:-3]), (214, 160, 130), 1)
        self._line(img, self._map(m, ex + xs[4:-4], ey + lower[4:-4] + 0.8), (222, 170, 142), 1)

    def _eye_ball(
        self, img: U8, m: F64, almond: npt.NDArray[np.int32], center: tuple[float, float], mo: Motion
    ) -> None:
        ex, ey = center
        lk = self.look
        pts = almond.reshape(-1, 2)
        x0 = max(0, int(pts[:, 0].min() / _ONE) - 2)
        y0 = max(0, int(pts[:, 1].min() / _ONE) - 2)
        x1 = min(img.shape[1], int(pts[:, 0].max() / _ONE) + 3)
        y1 = min(img.shape[0], int(pts[:, 1].max() / _ONE) + 3)
        w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0 or w > self._eye_rgb.shape[1] or h > self._eye_rgb.shape[0]:
            return
        roi = img[y0:y1, x0:x1]
        eye = self._eye_rgb[:h, :w]
        eye[:] = lk.sclera
        off = np.array([[x0 * _ONE, y0 * _ONE]], np.int32).reshape(1, 1, 2)
        local = almond - off
        self._line(eye, local[: len(_XS)], (214, 206, 206), max(2, round(4 * self.scale)))
        ix = ex + mo.gaze_x * 8.0
        iy = ey + mo.gaze_y * 5.5 - 0.5
        c = self._map(m, np.array([ix]), np.array([iy])) - off
        r = int(lk.iris_r * self.scale * _ONE)
        center = (int(c[0, 0, 0]), int(c[0, 0, 1]))
        cv2.circle(eye, center, r, lk.iris_dark, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(eye, center, int(r * 0.82), lk.iris, -1, cv2.LINE_AA, SHIFT)
        cv2.circle(eye, center, int(r * 0.45), lk.pupil, -1, cv2.LINE_AA, SHIFT)
        hl = (center[0] - int(r * 0.35), center[1] - int(r * 0.4))
        cv2.circle(eye, hl, int(r * 0.22), (255, 255, 255), -1, cv2.LINE_AA, SHIFT)
        mask = self._eye_mask[:h, :w]
        mask[:] = 0
        cv2.fillPoly(mask, [local], 255, cv2.LINE_AA, SHIFT)
        f = self._eye_f[:h, :w]
        np.multiply(mask[..., None], 1.0 / 255.0, out=f, casting="unsafe")
        blended = roi + (eye.astype(np.float32) - roi) * f
        roi[:] = blended.astype(np.uint8)

    # -- mouth -------------------------------------------------------------

    def _mouth(self, img: U8, m: F64, p: F64, mo: Motion) -> None:
        lk = self.look
        o, wdt, rnd = float(p[OPEN]), float(p[WIDTH]), float(p[ROUND])
        press, tuck = float(p[PRESS]), float(p[TUCK])
        hw = lk.mouth_rx * (1 + 0.16 * wdt - 0.12 * rnd + 0.16 * mo.smile - 0.06 * mo.concern)
        gap = (20.0 * o + 3.0 * mo.smile * (1 - o)) * (1 - press)
        cx, cy = lk.face_cx, lk.mouth_y
        xs = _XS * hw
        # a teller's resting face: the corners sit a little up even when neutral
        corner = -2.6 - 4.4 * mo.smile + 4.2 * mo.concern
        bend = corner * _XS**2
        bell = np.clip(1 - _XS**2, 0, 1)
        f = bell ** (0.75 - 0.35 * rnd)
        up_in = cy + bend - gap * 0.3 * f
        lo_in = cy + bend + gap * 0.7 * f
        fat = (1 + 0.3 * rnd) * (1 - 0.35 * press)
        bow = 1.6 * np.exp(-((xs / 4.0) ** 2)) - 0.8 * np.exp(-(((np.abs(xs) - 7.5) / 3.5) ** 2))
        up_out = up_in - (5.5 * fat) * bell**0.55 + bow * bell
        lo_out = lo_in + (6.3 * fat * (1 - 0.45 * tuck)) * bell**0.6 - 3.0 * tuck * bell
        if gap > 0.4:
            self._poly(
                img,
                np.concatenate([self._map(m, cx + xs, up_in), self._map(m, cx + xs[::-1], lo_in[::-1])]),
                lk.mouth_inside,
            )
            self._teeth(img, m, (cx + xs, up_in, lo_in), p)
        self._poly(
            img,
            np.concatenate([self._map(m, cx + xs, lo_in), self._map(m, cx + xs[::-1], lo_out[::-1])]),
            lk.lips,
        )
        self._poly(
            img,
            np.concatenate([self._map(m, cx + xs, up_out), self._map(m, cx + xs[::-1], up_in[::-1])]),
            lk.lips_dark,
        )
        shine = slice(7, 14)
        self._line(
            img,
            self._map(m, cx + xs[shine] * 0.9, (lo_in + 0.6 * (lo_out - lo_in))[shine]),
            (204, 118, 120),
            max(1, round(1.2 * self.scale)),
        )
        self._line(img, self._map(m, cx + xs, up_in + (0.3 if gap <= 0.4 else 0.0)), (120, 48, 56), 1)
        if mo.smile > 0.2:
            for s in (-1.0, 1.0):
                d = self._map(
                    m,
                    np.array([cx + s * (hw + 1.0), cx + s * (hw + 3.0)]),
                    np.array([cy + corner - 1.5, cy + corner + 2.5]),
                )
                self._line(img, d, (200, 140, 116), 1)
        c = (
            self._map(m, np.array([cx - hw - 6, cx + hw + 6]), np.array([cy - 14.0, cy + 24.0])).reshape(2, 2)
            / _ONE
        )
        self.mouth_box = (
            int(c[:, 0].min()),
            int(c[:, 1].min()),
            int(c[:, 0].max()) + 1,
            int(c[:, 1].max()) + 1,
        )

    def _teeth(self, img: U8, m: F64, curves: tuple[F64, F64, F64], p: F64) -> None:
        x, up_in, lo_in = curves
        lk = self.look
        sl = slice(3, -3)
        xs, top, bot = x[sl], up_in[sl], lo_in[sl]
        gap = bot - top
        if p[TEETH_UP] > 0.05:
            low = np.minimum(top + 6.5 * float(p[TEETH_UP]), bot)
            self._poly(
                img, np.concatenate([self._map(m, xs, top), self._map(m, xs[::-1], low[::-1])]), lk.teeth
            )
        if p[TONGUE] > 0.05:
            t_top = np.maximum(bot - gap * 0.45 * float(p[TONGUE]), top)
            self._poly(
                img, np.concatenate([self._map(m, xs, t_top), self._map(m, xs[::-1], bot[::-1])]), lk.tongue
            )
        if p[TEETH_LO] > 0.05:
            high = np.maximum(bot - 4.0 * float(p[TEETH_LO]), top)
            self._poly(
                img,
                np.concatenate([self._map(m, xs, high), self._map(m, xs[::-1], bot[::-1])]),
                (232, 228, 222),
            )
