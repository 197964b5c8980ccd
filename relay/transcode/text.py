"""Text rendered once into an alpha mask, blended onto luma planes many times.

Rasterising text costs far more than blending a cached mask, and the OSD's text changes once
a second at most, so masks are cached by (text, size).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

_FACE: cv2.FontFace | None = None


def _face() -> cv2.FontFace:
    global _FACE
    if _FACE is None:
        _FACE = cv2.FontFace("sans")  # OpenCV 5's built-in Unicode font: umlauts, dashes
    return _FACE


@lru_cache(maxsize=64)
def text_mask(text: str, px: int, weight: int = 600) -> npt.NDArray[np.uint8]:
    """An anti-aliased 0..255 mask of `text`, `px` pixels tall, cropped to its ink."""
    canvas = np.zeros((px * 2, px * (len(text) + 2)), np.uint8)
    cv2.putText(canvas, text, (px // 2, int(px * 1.4)), (255,), _face(), px, weight)
    ys, xs = np.nonzero(canvas)
    if len(xs) == 0:
        return np.zeros((1, 1), np.uint8)
    pad = max(1, px // 8)
    y0, y1 = max(0, ys.min() - pad), min(canvas.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(canvas.shape[1], xs.max() + pad + 1)
    mask = canvas[y0:y1, x0:x1].copy()
    mask.flags.writeable = False
    return mask


def blend_label(
    y_plane: npt.NDArray[np.uint8],
    mask: npt.NDArray[np.uint8],
    x: int,
    y: int,
    ink: int = 235,
    shade: bool = True,
) -> tuple[int, int, int, int]:
    """Draws mask at (x, y) on a luma plane in place: the box behind it darkened for contrast,
    the text in `ink`. Returns the box (x, y, w, h) actually drawn, clipped to the plane."""
    # A picture smaller than the label (a drone's odd SPS, or a damaged one) puts it above
    # or left of the plane: that part of the mask is cut off, as the part below or right.
    mx, my = max(0, -x), max(0, -y)
    x, y = max(0, x), max(0, y)
    h = min(mask.shape[0] - my, y_plane.shape[0] - y)
    w = min(mask.shape[1] - mx, y_plane.shape[1] - x)
    if h <= 0 or w <= 0:
        return x, y, 0, 0
    region = y_plane[y : y + h, x : x + w]
    alpha = mask[my : my + h, mx : mx + w].astype(np.uint16)
    base = region.astype(np.uint16)
    if shade:
        base >>= 2  # a dark box behind the text: readable over snow, fire or sky
    region[:] = ((base * (255 - alpha) + ink * alpha) // 255).astype(np.uint8)
    return x, y, w, h
