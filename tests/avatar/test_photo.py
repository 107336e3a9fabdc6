from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from avatar import AvatarAssetError, AvatarSettings, OfflineClock, build_photo_asset, create_renderer
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
