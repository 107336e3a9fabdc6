"""Offline face landmarks for the photo avatar: dlib's detector and shape predictors.

The default uses dlib's 5-point model (eye corners and nose base; trained on
dlib's own data set, free for any use) plus face geometry and the image itself
to place the mouth. ``landmarks="68"`` uses dlib's 68-point model, which was
trained on the iBUG 300-W data set: its licence excludes commercial use, so it
is opt-in only. Model files come from the ``face-recognition-models`` package
(located by path, without importing it: its ``__init__`` needs pkg_resources).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from avatar.errors import AvatarAssetError

U8 = npt.NDArray[np.uint8]
LandmarkMode = Literal["5", "68"]


@dataclass(frozen=True)
class FaceLandmarks:
    """Key points in image pixels; eyes ordered left-to-right as seen in the image."""

    eye_left: tuple[float, float]
    eye_right: tuple[float, float]
    eye_width: float
    nose: tuple[float, float]
    mouth: tuple[float, float]
    mouth_half_width: float
    mode: str

    @property
    def interocular(self) -> float:
        """Distance between the eye centres."""
        return float(np.hypot(self.eye_right[0] - self.eye_left[0], self.eye_right[1] - self.eye_left[1]))


def model_path(name: str) -> Path:
    """Path of a model file shipped by ``face-recognition-models``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise AvatarAssetError("face-recognition-models is not installed (needed for photo avatars)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise AvatarAssetError(f"landmark model missing: {path}")
    return path


def detect(rgb: U8, mode: LandmarkMode = "5") -> FaceLandmarks:
    """Find the largest frontal face and its landmarks; raise ``AvatarAssetError`` if none."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    faces = list(detector(rgb, 1)) or list(detector(rgb, 2))
    if not faces:
        raise AvatarAssetError("no frontal face found in the photo")
    face = max(faces, key=lambda r: r.width() * r.height())
    if mode == "68":
        pts = _parts(
            dlib.shape_predictor(str(model_path("shape_predictor_68_face_landmarks.dat")))(rgb, face)
        )
        return _from_68(pts)
    pts = _parts(dlib.shape_predictor(str(model_path("shape_predictor_5_face_landmarks.dat")))(rgb, face))
    return _from_5(rgb, pts)


def _parts(shape: object) -> npt.NDArray[np.float64]:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)  # type: ignore[attr-defined]


def _from_68(p: npt.NDArray[np.float64]) -> FaceLandmarks:
    eyes = sorted([p[36:42].mean(axis=0), p[42:48].mean(axis=0)], key=lambda e: float(e[0]))
    eye_w = float(np.mean([np.linalg.norm(p[39] - p[36]), np.linalg.norm(p[45] - p[42])]))
    mouth = p[60:68].mean(axis=0)
    return FaceLandmarks(
        eye_left=(float(eyes[0][0]), float(eyes[0][1])),
        eye_right=(float(eyes[1][0]), float(eyes[1][1])),
        eye_width=eye_w,
        nose=(float(p[33][0]), float(p[33][1])),
        mouth=(float(mouth[0]), float(mouth[1])),
        mouth_half_width=float(np.linalg.norm(p[54] - p[48]) / 2),
        mode="68",
    )


def _from_5(rgb: U8, p: npt.NDArray[np.float64]) -> FaceLandmarks:
    eyes = sorted([(p[0] + p[1]) / 2, (p[2] + p[3]) / 2], key=lambda e: float(e[0]))
    eye_w = float(np.mean([np.linalg.norm(p[0] - p[1]), np.linalg.norm(p[2] - p[3])]))
    left, right = eyes
    iod = float(np.linalg.norm(right - left))
    down = np.array([-(right - left)[1], (right - left)[0]]) / max(iod, 1e-6)
    guess = (left + right) / 2 + down * iod * 1.02
    mouth = _refine_mouth(rgb, guess, down, iod)
    return FaceLandmarks(
        eye_left=(float(left[0]), float(left[1])),
        eye_right=(float(right[0]), float(right[1])),
        eye_width=eye_w,
        nose=(float(p[4][0]), float(p[4][1])),
        mouth=(float(mouth[0]), float(mouth[1])),
        mouth_half_width=0.5 * iod,
        mode="5",
    )


def _refine_mouth(
    rgb: U8, guess: npt.NDArray[np.float64], down: npt.NDArray[np.float64], iod: float
) -> npt.NDArray[np.float64]:
    """Move the geometric guess to OpenCV's smile detection and the darkest lip row nearby."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    x0, x1 = int(max(0, guess[0] - iod)), int(min(w, guess[0] + iod))
    y0, y1 = int(max(0, guess[1] - 0.5 * iod)), int(min(h, guess[1] + 0.6 * iod))
    best = guess.copy()
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_smile.xml"))  # type: ignore[attr-defined]
    if not cascade.empty() and x1 > x0 and y1 > y0:
        found = cascade.detectMultiScale(gray[y0:y1, x0:x1], 1.1, 8, minSize=(int(0.5 * iod), int(0.2 * iod)))
        if len(found):
            centers = np.array(
                [(x0 + fx + fw / 2, y0 + fy + fh / 2) for fx, fy, fw, fh in found], dtype=np.float64
            )
            near = centers[np.argmin(np.linalg.norm(centers - guess, axis=1))]
            if np.linalg.norm(near - guess) < 0.35 * iod:
                best = 0.5 * best + 0.5 * near
    band_x0, band_x1 = int(max(0, best[0] - 0.25 * iod)), int(min(w, best[0] + 0.25 * iod))
    band_y0, band_y1 = int(max(0, best[1] - 0.2 * iod)), int(min(h, best[1] + 0.2 * iod))
    if band_x1 > band_x0 and band_y1 - band_y0 > 2:
        rows = gray[band_y0:band_y1, band_x0:band_x1].astype(np.float64).mean(axis=1)
        rows = np.convolve(rows, np.ones(3) / 3, mode="same")
        best[1] = band_y0 + float(np.argmin(rows[1:-1]) + 1)
    return best
