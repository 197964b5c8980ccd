"""Thermal palettes as 256-entry lookup tables in YUV, indexed by the camera's luma.

A thermal camera sends white-hot luma: brighter is hotter. A palette maps that luma to a
colour; the tables here give, for each of the 256 luma values, the palette colour's Y, U and
V (BT.601, limited range, what x264 is given and what decoders assume for an untagged
stream), so that colouring a frame is three table look-ups (cv2.LUT) and no RGB round trip
(docs/architecture.md, rule 5). Luma 16..235 spans the palette (limited range); below and
above clip to its ends, so white-hot gives back the camera's own picture.

The isotherm is baked into the table: every luma at or above the threshold gets the
palette's isotherm colour, one colour picked to stand out from that palette's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from relay.config.model import PALETTES

RGB = tuple[int, int, int]
U8 = npt.NDArray[np.uint8]

# (position 0..1 along the scale, colour) control points, interpolated linearly in RGB;
# and the isotherm colour.
_POINTS: dict[str, tuple[tuple[tuple[float, RGB], ...], RGB]] = {
    "white-hot": (((0.0, (0, 0, 0)), (1.0, (255, 255, 255))), (255, 40, 0)),
    "black-hot": (((0.0, (255, 255, 255)), (1.0, (0, 0, 0))), (255, 40, 0)),
    "ironbow": (
        (
            (0.0, (0, 0, 0)),
            (0.15, (30, 0, 110)),
            (0.35, (140, 0, 150)),
            (0.55, (225, 50, 40)),
            (0.75, (250, 140, 0)),
            (0.9, (255, 220, 40)),
            (1.0, (255, 255, 255)),
        ),
        (0, 255, 0),
    ),
    "rainbow": (
        (
            (0.0, (0, 0, 128)),
            (0.2, (0, 0, 255)),
            (0.4, (0, 255, 255)),
            (0.55, (0, 255, 0)),
            (0.7, (255, 255, 0)),
            (0.85, (255, 0, 0)),
            (1.0, (255, 255, 255)),
        ),
        (255, 0, 255),
    ),
    "arctic": (
        (
            (0.0, (0, 0, 30)),
            (0.35, (10, 60, 180)),
            (0.55, (90, 170, 230)),
            (0.7, (200, 200, 200)),
            (0.85, (240, 170, 40)),
            (1.0, (255, 240, 160)),
        ),
        (255, 0, 0),
    ),
    "lava": (
        (
            (0.0, (0, 0, 0)),
            (0.2, (20, 40, 120)),
            (0.4, (20, 140, 120)),
            (0.6, (200, 40, 30)),
            (0.8, (255, 170, 0)),
            (1.0, (255, 255, 255)),
        ),
        (0, 255, 0),
    ),
}
assert set(_POINTS) == set(PALETTES), "every palette the config accepts has colours here"


@dataclass(frozen=True)
class Lut:
    """One palette (with its isotherm, if any) as Y, U and V tables of 256 entries each."""

    y: U8
    u: U8
    v: U8


def rgb_table(palette: str, isotherm: int | None = None) -> U8:
    """The palette's colour for each input luma: a (256, 3) table of RGB."""
    points, iso_colour = _POINTS[palette]
    position = np.clip((np.arange(256) - 16) / 219, 0.0, 1.0)
    xs = [p for p, _ in points]
    rgb = np.stack(
        [np.interp(position, xs, [c[k] for _, c in points]) for k in range(3)], axis=1
    ).round()
    if isotherm is not None:
        rgb[isotherm:] = iso_colour
    return rgb.astype(np.uint8)


def rgb_to_yuv(rgb: npt.NDArray[np.generic]) -> U8:
    """BT.601 limited-range Y'CbCr of RGB rows (n, 3) -> (n, 3)."""
    r, g, b = (rgb[:, k].astype(np.float64) for k in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return np.clip(np.stack([y, u, v], axis=1).round(), 0, 255).astype(np.uint8)


@lru_cache(maxsize=64)
def lut(palette: str, isotherm: int | None = None) -> Lut:
    """The palette's tables (built once per palette and isotherm, then shared)."""
    yuv = rgb_to_yuv(rgb_table(palette, isotherm))
    tables = [np.ascontiguousarray(yuv[:, k]) for k in range(3)]
    for table in tables:
        table.flags.writeable = False
    return Lut(*tables)
