from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from avatar import (
    AvatarAssetError,
    AvatarSettings,
    AvatarState,
    Expression,
    OfflineClock,
    build_photo_asset,
    create_renderer,
)
from avatar.metrics import mouth_opening
from avatar.photo.renderer import PhotoRenderer
from avatar.visemes import SHAPES, Viseme


@pytest.fixture(scope="module")
def astronaut_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photo")
    photo = root / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return build_photo_asset(photo, "eileen", root / "avatars")


def test_asset_from_a_real_photograph(astronaut_asset: Path) -> None:
    assert {p.name for p in astronaut_asset.iterdir()} >= {"face.png", "landmarks.json", "warps.npz"}
    meta = json.loads((astronaut_asset / "landmarks.json").read_text())
    face = cv2.imread(str(astronaut_asset / "face.png"))
    assert face.shape == (512, 512, 3)
    (lx, ly), (rx, ry) = meta["eyes"]
    assert abs(ly - ry) < 3 and 120 < rx - lx < 160, "eyes levelled and scaled"
    mx, my = meta["mouth"]
    assert abs(mx - (lx + rx) / 2) < 20 and 100 < my - ly < 190
    assert meta["landmarks"] == "5"


@pytest.mark.asyncio
async def test_photo_avatar_moves_mouth_and_blinks(astronaut_asset: Path) -> None:
    r = create_renderer(AvatarSettings(kind="photo", asset_path=astronaut_asset), clock=OfflineClock(25))
    assert isinstance(r, PhotoRenderer)
    _, ctx, img = r._advance(0)
    r._draw(ctx, img)
    rest = img.copy()
    ctx.mouth[:] = SHAPES[Viseme.AA].as_array()
    r._draw(ctx, img)
    open_img = img.copy()
    assert mouth_opening(open_img, r.mouth_box) > mouth_opening(rest, r.mouth_box) + 0.05
    ctx.mouth[:] = 0.0
    ctx.motion.blink = 1.0
    r._draw(ctx, img)
    (ex, ey), _ = r.asset.eyes
    w = int(r.asset.eye_width)
    eye = (slice(int(ey - w / 3), int(ey + w / 3)), slice(int(ex - w / 2), int(ex + w / 2)))
    assert np.abs(img[eye].astype(int) - rest[eye].astype(int)).mean() > 8
    untouched = (slice(0, 100), slice(0, 512))
    assert np.array_equal(img[untouched], rest[untouched])
    await r.aclose()


def test_photo_asset_errors(tmp_path: Path) -> None:
    with pytest.raises(AvatarAssetError):
        build_photo_asset(tmp_path / "missing.jpg", "x", tmp_path)
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 200, np.uint8))
    with pytest.raises(AvatarAssetError, match="no frontal face"):
        build_photo_asset(blank, "x", tmp_path)
    with pytest.raises(AvatarAssetError):
        PhotoRenderer(tmp_path)


def _still(r: PhotoRenderer, **motion: float) -> np.ndarray:
    """One frame with every motion at rest except ``motion`` (mouth closed)."""
    _, ctx, img = r._advance(0)
    ctx.mouth[:] = 0.0
    for name in (
        "blink",
        "gaze_x",
        "gaze_y",
        "smile",
        "concern",
        "attentive",
        "tilt_deg",
        "head_dx",
        "head_dy",
    ):
        setattr(ctx.motion, name, motion.get(name, 0.0))
    r._draw(ctx, img)
    return img.astype(np.int16)


def _region(center: tuple[float, float], rx: float, ry: float) -> tuple[slice, slice]:
    return slice(int(center[1] - ry), int(center[1] + ry)), slice(int(center[0] - rx), int(center[0] + rx))


@pytest.mark.asyncio
async def test_photo_avatar_is_alive_when_idle(astronaut_asset: Path, tmp_path: Path) -> None:
    r = PhotoRenderer(astronaut_asset, seed=5, clock=OfflineClock(25))
    frames, blinks, gazes = [], [], []
    for n in range(150):  # six seconds of idle
        f = await r.next_frame(n)
        assert f.state is AvatarState.IDLE and not f.speaking
        frames.append(f.image.astype(np.int16))
        blinks.append(f.blink)
        gazes.append(r._animator.motion.gaze_x)
    face = _region(((r.asset.eyes[0][0] + r.asset.eyes[1][0]) / 2, r.asset.mouth[1] - 60), 130, 160)
    changed = [np.abs(a[face] - b[face]).mean() > 0.05 for a, b in itertools.pairwise(frames)]
    assert np.mean(changed) > 0.9, "the head sways and breathes: consecutive frames differ"
    assert max(blinks) > 0.9, "blinks"
    assert np.ptp(gazes) > 0.2, "the eyes look around"
    assert np.array_equal(frames[0][:, :10], frames[-1][:, :10]), "the backdrop stays put"
    sheet = np.hstack([frames[i][60:460, 56:456] for i in range(0, 150, 25)]).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "idle_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    assert (tmp_path / "idle_sheet.png").stat().st_size > 50_000
    await r.aclose()


@pytest.mark.asyncio
async def test_photo_expressions_states_and_gaze_are_visible(astronaut_asset: Path, tmp_path: Path) -> None:
    r = PhotoRenderer(astronaut_asset, seed=1, clock=OfflineClock(25))
    a = r.asset
    mouth = _region(a.mouth, 1.6 * a.mouth_half_width, 0.8 * a.mouth_half_width)
    brows = _region(
        ((a.eyes[0][0] + a.eyes[1][0]) / 2, a.eyes[0][1] - 0.65 * a.eye_width), 130, 0.4 * a.eye_width
    )
    eye = _region(a.eyes[0], 0.5 * a.eye_width, 0.25 * a.eye_width)
    shots = {
        "neutral": _still(r),
        "smile": _still(r, smile=1.0),
        "concern": _still(r, concern=1.0),
        "listening": _still(r, attentive=1.0),
        "thinking": _still(r, gaze_x=0.6, gaze_y=-0.75, tilt_deg=-2.0, head_dy=-2.0),
        "look left": _still(r, gaze_x=-1.0),
        "look right": _still(r, gaze_x=1.0),
        "tilt": _still(r, tilt_deg=3.0),
    }

    def diff(x: str, y: str, where: tuple[slice, slice]) -> float:
        return float(np.abs(shots[x][where] - shots[y][where]).mean())

    assert diff("smile", "neutral", mouth) > 6 and diff("concern", "neutral", mouth) > 4
    assert diff("smile", "concern", mouth) > 8
    assert diff("concern", "neutral", brows) > 3 and diff("listening", "neutral", brows) > 3
    assert diff("look left", "look right", eye) > 12 and diff("thinking", "neutral", eye) > 12
    assert diff("tilt", "neutral", mouth) > 5
    assert diff("smile", "neutral", brows) < 0.5, "a smile leaves the brows alone"
    # the public API reaches the same weights: expression and state settle within a second
    r.set_expression(Expression.SMILE)
    r.set_state(AvatarState.LISTENING)
    for n in range(25):
        f = await r.next_frame(n)
    assert r._animator.motion.smile > 0.9 and r._animator.motion.attentive > 0.9
    tiles = []
    for name, img in [*shots.items(), ("api smile+listening", f.image.astype(np.int16))]:
        tile = np.ascontiguousarray(img[100:460, 76:436].astype(np.uint8))
        cv2.putText(tile, name, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    sheet = np.vstack([np.hstack(tiles[0:3]), np.hstack(tiles[3:6]), np.hstack(tiles[6:9])])
    cv2.imwrite(str(tmp_path / "photo_contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    assert (tmp_path / "photo_contact_sheet.png").stat().st_size > 50_000
    await r.aclose()


def test_opt_in_68_point_landmarks_agree_with_the_default(astronaut_asset: Path) -> None:
    """The iBUG 300-W model (non-commercial licence) is opt-in; it must land on the same face."""
    pytest.importorskip("dlib")
    root = astronaut_asset.parent
    path = build_photo_asset(root.parent / "astronaut.png", "eileen68", root, landmarks="68")
    five, sixty_eight = (json.loads((p / "landmarks.json").read_text()) for p in (astronaut_asset, path))
    assert five["landmarks"] == "5" and sixty_eight["landmarks"] == "68"
    for a, b in zip(five["eyes"], sixty_eight["eyes"], strict=True):
        assert np.hypot(a[0] - b[0], a[1] - b[1]) < 6
    assert abs(five["mouth"][0] - sixty_eight["mouth"][0]) < 8
    assert abs(five["mouth"][1] - sixty_eight["mouth"][1]) < 8, "both split the jaw below the upper teeth"
    assert sixty_eight["teeth_visible"]
