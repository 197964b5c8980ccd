"""Pixel operations of the privacy stage on a yuv420p picture's planes, in place.

Polygons are rasterised once per picture size (cv2.fillPoly) and kept as a cropped mask with
its box, so a frame pays for the masked area only. The chroma mask is the luma mask reduced
2x2 with max: a chroma sample is masked when any of its four luma samples is (never leaves
colour of a masked pixel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Plane = npt.NDArray[np.uint8]
Polygon = Sequence[tuple[float, float]]

BLACK_Y, NEUTRAL_C = 16, 128  # video-range black, no colour
COARSE_BLOCKS = 16  # fail closed: the whole picture in 16 blocks across


@dataclass(frozen=True)
class BoxMask:
    """A mask cropped to its bounding box: rows y0:y1, columns x0:x1 of the plane."""

    x0: int
    y0: int
    x1: int
    y1: int
    mask: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PlaneMasks:
    luma: BoxMask | None
    chroma: BoxMask | None


def _crop(full: Plane) -> BoxMask | None:
    ys, xs = np.nonzero(full)
    if len(xs) == 0:
        return None
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    return BoxMask(x0, y0, x1, y1, full[y0:y1, x0:x1].astype(bool))


def polygon_masks(polygons: Sequence[Polygon], width: int, height: int) -> PlaneMasks:
    """The union of `polygons` (picture coordinates 0..1) for a width x height picture."""
    full = np.zeros((height, width), np.uint8)
    points = [
        np.array([[round(x * width), round(y * height)] for x, y in polygon], np.int32)
        for polygon in polygons
    ]
    cv2.fillPoly(full, points, (1,))
    ch, cw = (height + 1) // 2, (width + 1) // 2
    padded = np.zeros((ch * 2, cw * 2), np.uint8)
    padded[:height, :width] = full
    chroma = padded.reshape(ch, 2, cw, 2).max(axis=(1, 3))
    return PlaneMasks(_crop(full), _crop(chroma))


def pixelated(region: Plane, block: int) -> Plane:
    """`region` in blocks of block x block pixels, each its mean (a new array)."""
    h, w = region.shape
    block = max(1, block)
    small = cv2.resize(region, (-(-w // block), -(-h // block)), interpolation=cv2.INTER_AREA)
    big: Plane = np.repeat(np.repeat(small, block, axis=0), block, axis=1)
    return big[:h, :w]


def fill(plane: Plane, box: BoxMask | None, value: int | None, block: int) -> None:
    """Covers the masked pixels: with `value`, or (None) with the pixelated picture."""
    if box is None:
        return
    region = plane[box.y0 : box.y1, box.x0 : box.x1]
    source: Plane | int = value if value is not None else pixelated(region, block)
    np.copyto(region, source, where=box.mask)


def pixelate_box(plane: Plane, x0: int, y0: int, x1: int, y1: int, block: int) -> None:
    """Pixelates a rectangle of the plane (clipped to it) in place."""
    h, w = plane.shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 > x0 and y1 > y0:
        region = plane[y0:y1, x0:x1]
        region[:] = pixelated(region, block)


def blur_box(plane: Plane, x0: int, y0: int, x1: int, y1: int, kernel: int) -> None:
    """Blurs a rectangle of the plane (clipped to it) in place: a box blur, twice."""
    h, w = plane.shape
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 > x0 and y1 > y0:
        region = plane[y0:y1, x0:x1]
        k = max(3, kernel | 1)
        region[:] = cv2.blur(cv2.blur(region, (k, k)), (k, k))


def coarse_block(width: int) -> int:
    """Block size of the fail-closed pixelation: COARSE_BLOCKS across, even (for chroma)."""
    block = -(-width // COARSE_BLOCKS)
    return max(2, block + block % 2)


def coarse(planes: tuple[Plane, Plane, Plane]) -> None:
    """Fail closed: the whole picture pixelated in COARSE_BLOCKS blocks across."""
    y, u, v = planes
    block = coarse_block(y.shape[1])
    y[:] = pixelated(y, block)
    u[:] = pixelated(u, block // 2)
    v[:] = pixelated(v, block // 2)
