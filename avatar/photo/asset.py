"""Prepare a portrait photo once as an avatar asset, and load prepared assets.

An asset directory ``out_dir/name/`` holds ``face.png`` (aligned 512x512 crop),
``landmarks.json`` (eyes, nose, mouth and the regions that move) and ``warps.npz``
(precomputed displacement maps: mouth opening, mouth widening, eyelid closing).
Renderers blend those maps per frame; nothing is detected at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from avatar.errors import AvatarAssetError
from avatar.photo.landmarks import FaceLandmarks, LandmarkMode, detect

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
SIZE = 512
FORMAT_VERSION = 1
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Region:
    """A moving region: its box in the crop and its displacement basis maps (dx, dy)."""

    box: Box
    fields: dict[str, F32]


@dataclass(frozen=True)
class PhotoAsset:
    """A prepared portrait: the face crop, key points and regions with their warp maps."""

    face: U8
    mouth: tuple[float, float]
    mouth_half_width: float
    eyes: tuple[tuple[float, float], tuple[float, float]]
    eye_width: float
    mouth_region: Region
    eye_regions: tuple[Region, Region]
    teeth_visible: bool = False
    lip_curve: float = 0.0


def build_photo_asset(
    photo_path: str | Path, name: str, out_dir: str | Path, *, landmarks: LandmarkMode = "5"
) -> Path:
    """Detect, align and crop the face in ``photo_path``; write the asset to ``out_dir/name``.

    ``landmarks="5"`` (default) uses dlib's 5-point model, free for commercial use;
    ``landmarks="68"`` uses dlib's 68-point model, trained on iBUG 300-W whose
    licence forbids commercial use. Returns the asset directory.
    """
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise AvatarAssetError(f"invalid avatar name {name!r}")
    bgr = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise AvatarAssetError(f"cannot read image {photo_path}")
    rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    lm = detect(rgb, landmarks)
    if lm.interocular < 20:
        raise AvatarAssetError(f"face too small in {photo_path} ({lm.interocular:.0f} px between the eyes)")
    m = _alignment(lm)
    face = np.asarray(
        cv2.warpAffine(rgb, m, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE),
        dtype=np.uint8,
    )
    scale = float(np.hypot(m[0, 0], m[0, 1]))

    def tr(p: tuple[float, float]) -> tuple[float, float]:
        return (
            float(m[0, 0] * p[0] + m[0, 1] * p[1] + m[0, 2]),
            float(m[1, 0] * p[0] + m[1, 1] * p[1] + m[1, 2]),
        )

    mouth, hw = tr(lm.mouth), lm.mouth_half_width * scale
    mouth, teeth, curve = teeth_split(face, mouth, hw)
    eyes = (tr(lm.eye_left), tr(lm.eye_right))
    eye_w = lm.eye_width * scale
    mouth_box, mouth_fields = mouth_maps(mouth, hw)
    eye_data = [eye_maps(e, eye_w) for e in eyes]
    target = Path(out_dir) / name
    target.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target / "face.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    meta = {
        "version": FORMAT_VERSION,
        "landmarks": lm.mode,
        "source": Path(photo_path).name,
        "mouth": mouth,
        "mouth_half_width": hw,
        "teeth_visible": teeth,
        "lip_curve": curve,
        "eyes": eyes,
        "eye_width": eye_w,
        "mouth_box": mouth_box,
        "eye_boxes": [b for b, _ in eye_data],
    }
    (target / "landmarks.json").write_text(json.dumps(meta, indent=2))
    arrays = {f"mouth_{k}": v for k, v in mouth_fields.items()}
    for i, (_, fields) in enumerate(eye_data):
        arrays.update({f"eye{i}_{k}": v for k, v in fields.items()})
    np.savez_compressed(target / "warps.npz", **arrays)  # type: ignore[arg-type]
    return target


def load_photo_asset(path: str | Path) -> PhotoAsset:
    """Load an asset written by ``build_photo_asset``; raise ``AvatarAssetError`` if unusable."""
    root = Path(path)
    try:
        meta = json.loads((root / "landmarks.json").read_text())
        warps = np.load(root / "warps.npz")
    except (OSError, ValueError) as exc:
        raise AvatarAssetError(f"not a photo avatar asset: {root} ({exc})") from exc
    if meta.get("version") != FORMAT_VERSION:
        raise AvatarAssetError(
            f"asset {root} has format {meta.get('version')}, expected {FORMAT_VERSION}; rebuild it"
        )
    bgr = cv2.imread(str(root / "face.png"), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[:2] != (SIZE, SIZE):
        raise AvatarAssetError(f"asset {root} has no valid face.png")

    def region(prefix: str, box: list[int]) -> Region:
        names = [k for k in warps.files if k.startswith(prefix + "_")]
        return Region(
            (box[0], box[1], box[2], box[3]),
            {k[len(prefix) + 1 :]: warps[k].astype(np.float32) for k in names},
        )

    eyes = meta["eyes"]
    return PhotoAsset(
        face=np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8),
        mouth=(float(meta["mouth"][0]), float(meta["mouth"][1])),
        mouth_half_width=float(meta["mouth_half_width"]),
        eyes=((float(eyes[0][0]), float(eyes[0][1])), (float(eyes[1][0]), float(eyes[1][1]))),
        eye_width=float(meta["eye_width"]),
        mouth_region=region("mouth", meta["mouth_box"]),
        eye_regions=(region("eye0", meta["eye_boxes"][0]), region("eye1", meta["eye_boxes"][1])),
        teeth_visible=bool(meta.get("teeth_visible", False)),
        lip_curve=float(meta.get("lip_curve", 0.0)),
    )


def _alignment(lm: FaceLandmarks) -> npt.NDArray[np.float64]:
    """Similarity transform: eyes level, 0.27 of the crop apart, their midpoint at 40 % height."""
    (lx, ly), (rx, ry) = lm.eye_left, lm.eye_right
    angle = np.degrees(np.arctan2(ry - ly, rx - lx))
    scale = 0.27 * SIZE / lm.interocular
    m = cv2.getRotationMatrix2D(((lx + rx) / 2, (ly + ry) / 2), float(angle), scale)
    m[0, 2] += SIZE / 2 - (lx + rx) / 2
    m[1, 2] += 0.40 * SIZE - (ly + ry) / 2
    return np.asarray(m, dtype=np.float64)


def teeth_split(face: U8, mouth: tuple[float, float], a: float) -> tuple[tuple[float, float], bool, float]:
    """Where the jaw parts in a smile that shows the upper teeth: just below them.

    The landmarks put the mouth on the lip line, which in a toothy smile is the
    upper lip's edge; opening there would drag the upper teeth down with the jaw.
    When a band of teeth (bright, unsaturated rows) starts at the lip line, the
    split moves to its lower edge so the teeth stay with the upper lip.
    Returns the (possibly moved) mouth point, whether teeth are visible and how
    far the teeth's lower edge rises at 0.6 ``a`` from the centre (in ``a``).
    """
    mx, my = mouth
    x0, x1 = int(max(0, mx - 0.5 * a)), int(min(SIZE, mx + 0.5 * a))
    y0, y1 = int(max(0, my - 0.25 * a)), int(min(SIZE, my + 0.8 * a))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return mouth, False, 0.0
    teeth = _teeth_mask(face, x0, y0, x1, y1)
    teeth_rows = teeth.mean(axis=1) > 0.6
    rows = np.flatnonzero(teeth_rows)
    if rows.size == 0 or rows[0] + y0 > my + 0.25 * a:
        return mouth, False, 0.0
    end = int(rows[0])
    while end + 1 < teeth_rows.size and teeth_rows[end + 1]:
        end += 1
    if end - int(rows[0]) + 1 < 0.1 * a or end + 1 >= teeth_rows.size:
        return mouth, False, 0.0
    split = float(y0 + end + 1)
    lifts = []
    for side in (-1.0, 1.0):
        cx = int(mx + side * 0.6 * a)
        col = _teeth_mask(face, cx - 2, y0, cx + 3, y1).mean(axis=1) > 0.5
        below = np.flatnonzero(col[: end + 1])
        if below.size:
            lifts.append((split - (y0 + float(below[-1]) + 1)) / a)
    curve = float(np.clip(np.mean(lifts), 0.0, 0.4)) if lifts else 0.0
    return (mx, split), True, curve


def _teeth_mask(face: U8, x0: int, y0: int, x1: int, y1: int) -> npt.NDArray[np.bool_]:
    hsv = cv2.cvtColor(np.ascontiguousarray(face[y0:y1, max(0, x0) : min(SIZE, x1)]), cv2.COLOR_RGB2HSV)
    return np.asarray((hsv[..., 2] > 185) & (hsv[..., 1] < 55))


def _box(x0: float, y0: float, x1: float, y1: float) -> Box:
    return (max(0, int(x0)), max(0, int(y0)), min(SIZE, int(np.ceil(x1))), min(SIZE, int(np.ceil(y1))))


def mouth_maps(center: tuple[float, float], a: float) -> tuple[Box, dict[str, F32]]:
    """Displacements (source minus output, pixels) for opening=1 and widening=1.

    Opening drops the lower lip and chin by 0.47 a and lifts the upper lip by
    0.08 a inside the mouth corners, fading out towards the region's border.
    """
    box = _box(center[0] - 2.0 * a, center[1] - 1.0 * a, center[0] + 2.0 * a, center[1] + 2.4 * a)
    ys, xs = np.mgrid[box[1] : box[3], box[0] : box[2]].astype(np.float32)
    u, v = (xs - center[0]) / a, (ys - center[1]) / a
    hx = 0.5 + 0.5 * np.cos(np.pi * np.clip(np.abs(u) / 1.7, 0, 1))
    lips = np.clip(1 - u**2, 0, 1) ** 0.8
    profile = lips + (hx - lips) * np.clip(np.abs(v) / 0.6, 0, 1)
    below = np.clip(1 - v / 2.4, 0, 1) * (v > 0)
    above = np.clip(1 + v, 0, 1) * (v <= 0)
    open_dy = (-0.47 * a * below + 0.08 * a * above) * profile
    bump = np.sin(np.pi * np.clip(np.abs(u) / 2.0, 0, 1))
    wide_dx = -0.12 * a * np.sign(u) * bump * np.exp(-((v / 0.6) ** 2))
    return box, {"open_dy": open_dy.astype(np.float32), "wide_dx": wide_dx.astype(np.float32)}


def eye_maps(center: tuple[float, float], w: float) -> tuple[Box, dict[str, F32]]:
    """Displacement that closes the eye: the upper lid's skin is stretched down to the lower lid."""
    box = _box(center[0] - 0.9 * w, center[1] - 0.9 * w, center[0] + 0.9 * w, center[1] + 0.5 * w)
    ys, xs = np.mgrid[box[1] : box[3], box[0] : box[2]].astype(np.float32)
    u, v = (xs - center[0]) / w, (ys - center[1]) / w
    v_c, v_u, v_l = -0.5, -0.17, 0.13
    src = v_c + (v - v_c) * (v_u - v_c) / (v_l - v_c)
    inside = (v >= v_c) & (v <= v_l)
    fall = np.clip((v - v_l) / 0.25, 0, 1)
    dv = np.where(inside, src - v, (v_u - v_l) * (1 - fall) * (v > v_l))
    hx = np.clip(1 - (u / 0.75) ** 2, 0, 1) ** 0.6
    return box, {"close_dy": (dv * w * hx).astype(np.float32)}
