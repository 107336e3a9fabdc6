"""Colours (RGB) and face geometry of the drawn bank teller, in 512-pixel design units."""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Look:
    """The teller's look. Coordinates are for a 512x512 frame and scale with size."""

    bg_top: RGB = (236, 242, 246)
    bg_bottom: RGB = (196, 214, 226)
    brand: RGB = (12, 110, 118)
    brand_dark: RGB = (8, 74, 84)
    gold: RGB = (201, 162, 39)
    blazer: RGB = (28, 40, 70)
    blazer_light: RGB = (48, 64, 102)
    shirt: RGB = (246, 247, 250)
    skin: RGB = (238, 192, 160)
    skin_shadow: RGB = (206, 150, 118)
    blush: RGB = (232, 150, 140)
    hair: RGB = (62, 40, 30)
    hair_light: RGB = (104, 72, 52)
    lips: RGB = (188, 92, 96)
    lips_dark: RGB = (150, 62, 70)
    mouth_inside: RGB = (70, 22, 30)
    teeth: RGB = (246, 244, 238)
    tongue: RGB = (200, 96, 104)
    sclera: RGB = (250, 250, 248)
    iris: RGB = (96, 66, 42)
    iris_dark: RGB = (52, 34, 22)
    pupil: RGB = (18, 12, 10)
    lash: RGB = (40, 26, 22)
    brow: RGB = (70, 46, 34)

    face_cx: float = 256.0
    face_cy: float = 212.0
    face_rx: float = 78.0
    face_top: float = 112.0
    chin_y: float = 318.0
    eye_dx: float = 34.0
    eye_y: float = 214.0
    eye_rx: float = 16.5
    eye_up: float = 9.5
    eye_down: float = 5.0
    iris_r: float = 8.5
    brow_y: float = 192.0
    nose_y: float = 254.0
    mouth_y: float = 284.0
    mouth_rx: float = 23.0
    neck_top: float = 300.0
    pivot_y: float = 330.0
    collar_y: float = 350.0


DEFAULT_LOOK = Look()
