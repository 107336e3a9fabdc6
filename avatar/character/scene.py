"""Static layers of the drawn teller, rendered once (supersampled) per size and look.

``background_with_body`` is the branch backdrop plus blazer, shirt, scarf and neck;
``head_layer`` is the head (hair, face, ears, nose) as premultiplied RGB + alpha
that the renderer rotates and composites per frame. Eyes, brows and mouth are
drawn per frame by ``avatar.character.face``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from avatar.character.palette import RGB, Look

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
SS = 2  # supersampling factor for the static layers


def _pts(points: list[tuple[float, float]] | npt.NDArray[np.float64], k: float) -> npt.NDArray[np.int32]:
    return np.round(np.asarray(points, dtype=np.float64) * k).astype(np.int32).reshape(-1, 1, 2)


def _fill(
    img: F32,
    points: list[tuple[float, float]] | npt.NDArray[np.float64],
    k: float,
    color: RGB | float,
) -> None:
    cv2.fillPoly(img, [_pts(points, k)], color, cv2.LINE_AA)


def _ellipse_pts(
    center: tuple[float, float], rx: float, ry: float, span: tuple[float, float] = (0, 360), n: int = 64
) -> npt.NDArray[np.float64]:
    (cx, cy), (a0, a1) = center, span
    a = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def smooth(
    points: Sequence[tuple[float, float]] | npt.NDArray[np.float64], rounds: int = 3
) -> npt.NDArray[np.float64]:
    """Chaikin corner cutting of a closed polygon (rounds off hand-placed points)."""
    p = np.asarray(points, dtype=np.float64)
    for _ in range(rounds):
        q = np.roll(p, -1, axis=0)
        p = np.stack([0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q], axis=1).reshape(-1, 2)
    return p


def face_outline(look: Look) -> npt.NDArray[np.float64]:
    """Face contour (design units): round forehead and cheeks narrowing to a soft chin."""
    cx, cy, rx = look.face_cx, look.face_cy, look.face_rx
    top = _ellipse_pts((cx, cy), rx, cy - look.face_top, (180, 360), 40)
    ys = np.linspace(cy, look.chin_y, 28)
    u = (ys - cy) / (look.chin_y - cy)
    half = rx * np.sqrt(np.clip(1 - u**2.2, 0, 1)) * (1 - 0.28 * u**1.6)
    half[-1] = 0
    right = np.stack([cx + half, ys], axis=1)
    left = np.stack([cx - half, ys], axis=1)[::-1]
    return np.concatenate([top, right[1:], left[1:]])


def _gradient(h: int, w: int, top: RGB, bottom: RGB) -> F32:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    col = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    return np.repeat(col, w, axis=1)


def _blur(mask: F32, ksize: tuple[int, int], sigma: float) -> F32:
    return np.asarray(cv2.GaussianBlur(mask, ksize, sigma), dtype=np.float32)


def _soft(img: F32, mask: F32, color: RGB, opacity: float) -> None:
    m = (mask * opacity)[..., None]
    img *= 1 - m
    img += m * np.array(color, np.float32)


def _mask(h: int, w: int) -> F32:
    return np.zeros((h, w), np.float32)


def _emblem(img: F32, k: float, look: Look) -> None:
    m = _mask(*img.shape[:2])
    x, y = 34.0, 30.0
    _fill(m, [(x, y + 14), (x + 19, y), (x + 38, y + 14)], k, 1.0)
    for i in range(4):
        cv2.rectangle(
            m, _pts([(x + 3 + i * 9.3, y + 17)], k)[0, 0], _pts([(x + 7 + i * 9.3, y + 33)], k)[0, 0], 1.0, -1
        )
    cv2.rectangle(m, _pts([(x, y + 35)], k)[0, 0], _pts([(x + 38, y + 39)], k)[0, 0], 1.0, -1)
    _soft(img, m, look.brand_dark, 0.95)
    g = _mask(*img.shape[:2])
    cv2.circle(g, _pts([(x + 19, y + 8.5)], k)[0, 0], int(2.6 * k), 1.0, -1, cv2.LINE_AA)
    _soft(img, g, look.gold, 1.0)
    bar = _mask(*img.shape[:2])
    for i, wdt in enumerate((64.0, 44.0)):
        yy = y + 12 + i * 13
        cv2.rectangle(bar, _pts([(x + 48, yy)], k)[0, 0], _pts([(x + 48 + wdt, yy + 6)], k)[0, 0], 1.0, -1)
    _soft(img, bar, look.brand_dark, 0.55)


def _background(h: int, w: int, k: float, look: Look) -> F32:
    img = _gradient(h, w, look.bg_top, look.bg_bottom)
    glow = _mask(h, w)
    cv2.circle(glow, _pts([(256, 205)], k)[0, 0], int(190 * k), 1.0, -1, cv2.LINE_AA)
    glow = _blur(glow, (0, 0), 40 * k)
    _soft(img, glow, (250, 252, 253), 0.7)
    arc = _mask(h, w)
    cv2.circle(arc, _pts([(530, 130)], k)[0, 0], int(150 * k), 1.0, -1, cv2.LINE_AA)
    _soft(img, _blur(arc, (0, 0), 2 * k), look.brand, 0.85)
    ring = _mask(h, w)
    cv2.circle(ring, _pts([(530, 130)], k)[0, 0], int(168 * k), 1.0, int(4 * k), cv2.LINE_AA)
    _soft(img, ring, look.gold, 0.9)
    rng = np.random.default_rng(3)
    bokeh = _mask(h, w)
    for _ in range(14):
        c = (float(rng.uniform(0, 512)), float(rng.uniform(250, 470)))
        cv2.circle(
            bokeh,
            _pts([c], k)[0, 0],
            int(rng.uniform(10, 28) * k),
            float(rng.uniform(0.3, 0.8)),
            -1,
            cv2.LINE_AA,
        )
    _soft(img, _blur(bokeh, (0, 0), 6 * k), (255, 255, 255), 0.35)
    stripe = _mask(h, w)
    cv2.rectangle(stripe, (0, int(498 * k)), (w, h), 1.0, -1)
    _soft(img, stripe, look.brand, 1.0)
    _emblem(img, k, look)
    return img


def _body(img: F32, k: float, look: Look, dy: float) -> None:
    h, w = img.shape[:2]
    cx = 256.0
    neck = _mask(h, w)
    _fill(
        neck,
        [(cx - 30, look.neck_top - 30), (cx + 30, look.neck_top - 30), (cx + 34, 372), (cx - 34, 372)],
        k,
        1.0,
    )
    _soft(img, neck, look.skin, 1.0)
    shade = _mask(h, w)
    _fill(shade, _ellipse_pts((cx, look.chin_y - 2), 48, 26, (0, 180), 24), k, 1.0)
    _soft(img, _blur(shade, (0, 0), 7 * k) * neck, look.skin_shadow, 0.9)
    blazer = _mask(h, w)
    shoulder = [
        (cx - 60, 354),
        (cx - 150, 380),
        (cx - 196, 420),
        (cx - 214, 512),
        (cx + 214, 512),
        (cx + 196, 420),
        (cx + 150, 380),
        (cx + 60, 354),
    ]
    _fill(blazer, [(x, y + dy) for x, y in shoulder], k, 1.0)
    _soft(img, blazer, look.blazer, 1.0)
    sheen = _mask(h, w)
    _fill(sheen, [(cx - 150, 384 + dy), (cx - 190, 425 + dy), (cx - 120, 430 + dy)], k, 1.0)
    _fill(sheen, [(cx + 150, 384 + dy), (cx + 190, 425 + dy), (cx + 120, 430 + dy)], k, 1.0)
    _soft(img, _blur(sheen, (0, 0), 10 * k), look.blazer_light, 0.8)
    shirt = _mask(h, w)
    _fill(shirt, [(cx - 44, 354 + dy), (cx + 44, 354 + dy), (cx + 16, 512), (cx - 16, 512)], k, 1.0)
    _soft(img, shirt, look.shirt, 1.0)
    scarf = _mask(h, w)
    _fill(scarf, [(cx - 34, 358 + dy), (cx + 34, 358 + dy), (cx + 8, 392 + dy), (cx - 8, 392 + dy)], k, 1.0)
    _fill(
        scarf,
        [(cx - 9, 388 + dy), (cx + 9, 388 + dy), (cx + 13, 440 + dy), (cx, 450 + dy), (cx - 13, 440 + dy)],
        k,
        1.0,
    )
    _soft(img, scarf, look.brand, 1.0)
    fold = _mask(h, w)
    cv2.line(
        fold,
        _pts([(cx - 22, 362 + dy)], k)[0, 0],
        _pts([(cx, 388 + dy)], k)[0, 0],
        1.0,
        int(2 * k),
        cv2.LINE_AA,
    )
    cv2.line(
        fold,
        _pts([(cx + 4, 398 + dy)], k)[0, 0],
        _pts([(cx + 2, 444 + dy)], k)[0, 0],
        1.0,
        int(2 * k),
        cv2.LINE_AA,
    )
    _soft(img, fold, look.brand_dark, 0.7)
    gold = _mask(h, w)
    cv2.circle(gold, _pts([(cx, 392 + dy)], k)[0, 0], int(4 * k), 1.0, -1, cv2.LINE_AA)
    _soft(img, gold, look.gold, 1.0)
    lapels = _mask(h, w)
    for s in (-1, 1):
        _fill(
            lapels,
            [
                (cx + s * 46, 354 + dy),
                (cx + s * 62, 380 + dy),
                (cx + s * 44, 398 + dy),
                (cx + s * 58, 408 + dy),
                (cx + s * 17, 512),
                (cx + s * 14, 512),
            ],
            k,
            1.0,
        )
    _soft(img, lapels, look.blazer_light, 1.0)
    edge = _mask(h, w)
    for s in (-1, 1):
        cv2.polylines(
            edge,
            [
                _pts(
                    [
                        (cx + s * 46, 354 + dy),
                        (cx + s * 62, 380 + dy),
                        (cx + s * 44, 398 + dy),
                        (cx + s * 58, 408 + dy),
                        (cx + s * 17, 512),
                    ],
                    k,
                )
            ],
            False,
            1.0,
            max(1, int(1.2 * k)),
            cv2.LINE_AA,
        )
    _soft(img, edge, (14, 20, 38), 0.8)
    badge = _mask(h, w)
    cv2.rectangle(
        badge,
        _pts([(cx + 86, 440 + dy)], k)[0, 0],
        _pts([(cx + 128, 452 + dy)], k)[0, 0],
        1.0,
        -1,
        cv2.LINE_AA,
    )
    _soft(img, badge, look.gold, 1.0)
    line = _mask(h, w)
    cv2.rectangle(
        line,
        _pts([(cx + 91, 444 + dy)], k)[0, 0],
        _pts([(cx + 118, 448 + dy)], k)[0, 0],
        1.0,
        -1,
        cv2.LINE_AA,
    )
    _soft(img, line, look.blazer, 0.7)


def background_with_body(size: int, look: Look, dy: float = 0.0) -> U8:
    """Backdrop and body at ``size``; ``dy`` lifts the shoulders (breathing)."""
    k = size * SS / 512.0
    img = _background(size * SS, size * SS, k, look)
    _body(img, k, look, dy)
    return np.clip(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), 0, 255).astype(np.uint8)


def head_layer(size: int, look: Look) -> tuple[U8, F32]:
    """Head as (premultiplied RGB uint8, alpha float32 0..1), both full-frame at ``size``."""
    n = size * SS
    k = n / 512.0
    img = np.zeros((n, n, 3), np.float32)
    alpha = _mask(n, n)
    back = _mask(n, n)
    cx = look.face_cx
    hair_back = np.concatenate(
        [
            _ellipse_pts((cx, 200), 101, 100, (180, 360), 48),
            [
                (cx + 101, 240),
                (cx + 99, 282),
                (cx + 93, 304),
                (cx + 80, 316),
                (cx + 60, 318),
                (cx - 60, 318),
                (cx - 80, 316),
                (cx - 93, 304),
                (cx - 99, 282),
                (cx - 101, 240),
            ],
        ]
    )
    _fill(back, smooth(hair_back, 2), k, 1.0)
    _soft(img, back, look.hair, 1.0)
    alpha = np.maximum(alpha, back)
    ears = _mask(n, n)
    for s in (-1, 1):
        cv2.ellipse(
            ears,
            _pts([(cx + s * 77, 226)], k)[0, 0],
            (int(11 * k), int(20 * k)),
            s * 12,
            0,
            360,
            1.0,
            -1,
            cv2.LINE_AA,
        )
    face = _mask(n, n)
    _fill(face, face_outline(look), k, 1.0)
    skin = np.maximum(face, ears)
    _soft(img, skin, look.skin, 1.0)
    alpha = np.maximum(alpha, skin)
    rim = 1.0 - _blur(face, (0, 0), 14 * k)
    _soft(img, np.clip(rim * 1.6, 0, 1) * face, look.skin_shadow, 0.55)
    light = _mask(n, n)
    cv2.ellipse(light, _pts([(cx - 12, 200)], k)[0, 0], (int(44 * k), int(60 * k)), 0, 0, 360, 1.0, -1)
    _soft(img, _blur(light, (0, 0), 22 * k) * face, (250, 214, 186), 0.45)
    blush = _mask(n, n)
    for s in (-1, 1):
        cv2.circle(blush, _pts([(cx + s * 44, 252)], k)[0, 0], int(15 * k), 1.0, -1)
    _soft(img, _blur(blush, (0, 0), 9 * k) * face, look.blush, 0.35)
    _nose(img, k, look, face)
    hair = _mask(n, n)
    fringe = [
        (cx - 84, 206),
        (cx - 86, 160),
        (cx - 70, 126),
        (cx - 30, 106),
        (cx + 20, 102),
        (cx + 62, 116),
        (cx + 84, 146),
        (cx + 86, 196),
        (cx + 76, 168),
        (cx + 58, 140),
        (cx + 24, 128),
        (cx - 14, 136),
        (cx - 48, 150),
        (cx - 66, 170),
        (cx - 76, 196),
    ]
    _fill(hair, smooth(fringe), k, 1.0)
    for s in (-1, 1):
        _fill(
            hair,
            smooth(
                [
                    (cx + s * 84, 170),
                    (cx + s * 99, 220),
                    (cx + s * 101, 262),
                    (cx + s * 96, 292),
                    (cx + s * 86, 310),
                    (cx + s * 70, 318),
                    (cx + s * 62, 314),
                    (cx + s * 72, 302),
                    (cx + s * 78, 276),
                    (cx + s * 79, 240),
                    (cx + s * 77, 200),
                ]
            ),
            k,
            1.0,
        )
    _soft(img, hair, look.hair, 1.0)
    sheen = _mask(n, n)
    cv2.ellipse(
        sheen,
        _pts([(cx - 10, 118)], k)[0, 0],
        (int(48 * k), int(10 * k)),
        -8,
        180,
        360,
        1.0,
        int(5 * k),
        cv2.LINE_AA,
    )
    _soft(img, _blur(sheen, (0, 0), 4 * k) * hair, look.hair_light, 0.8)
    strands = _mask(n, n)
    for i in range(5):
        cv2.ellipse(
            strands,
            _pts([(cx + 20 - i * 8, 200)], k)[0, 0],
            (int((80 - i * 4) * k), int(88 * k)),
            0,
            205,
            260,
            1.0,
            max(1, int(k)),
            cv2.LINE_AA,
        )
    _soft(img, strands * hair, look.hair_light, 0.35)
    alpha = np.maximum(alpha, hair)
    small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    a = cv2.resize(alpha, (size, size), interpolation=cv2.INTER_AREA)
    premult = np.clip(small * a[..., None], 0, 255).astype(np.uint8)
    return premult, a.astype(np.float32)


def _nose(img: F32, k: float, look: Look, face: F32) -> None:
    h, w = img.shape[:2]
    cx, y = look.face_cx, look.nose_y
    shade = _mask(h, w)
    cv2.ellipse(shade, _pts([(cx + 7, y - 18)], k)[0, 0], (int(4 * k), int(20 * k)), 0, 0, 360, 1.0, -1)
    cv2.ellipse(shade, _pts([(cx, y + 2)], k)[0, 0], (int(12 * k), int(5 * k)), 0, 0, 180, 1.0, -1)
    _soft(img, _blur(shade, (0, 0), 3.5 * k) * face, look.skin_shadow, 0.6)
    nostrils = _mask(h, w)
    for s in (-1, 1):
        cv2.ellipse(
            nostrils,
            _pts([(cx + s * 6, y)], k)[0, 0],
            (int(3.6 * k), int(2 * k)),
            s * 20,
            0,
            360,
            1.0,
            -1,
            cv2.LINE_AA,
        )
    _soft(img, _blur(nostrils, (0, 0), 0.8 * k), (150, 90, 76), 0.7)
    tip = _mask(h, w)
    cv2.circle(tip, _pts([(cx - 2, y - 6)], k)[0, 0], int(4 * k), 1.0, -1)
    _soft(img, _blur(tip, (0, 0), 3 * k), (252, 222, 200), 0.5)
