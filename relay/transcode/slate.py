"""The slate viewers see while the drone's signal is lost: they stay connected meanwhile."""

from __future__ import annotations

from functools import lru_cache

import av
import numpy as np

from relay.transcode.processors.osd import planes
from relay.transcode.text import blend_label, text_mask

SLATE_TEXT = "Signal verloren – verbinde neu"
SLATE_SUBTEXT = "Signal lost – reconnecting"


@lru_cache(maxsize=8)
def _slate_planes(width: int, height: int, stream: str) -> np.ndarray:
    frame = av.VideoFrame(width, height, "yuv420p")
    y, u, v = planes(frame)
    y[:] = 40
    u[:] = 128
    v[:] = 128
    for text, px, row in (
        (SLATE_TEXT, height // 12, 0.40),
        (SLATE_SUBTEXT, height // 20, 0.55),
        (stream, height // 20, 0.68),
    ):
        mask = text_mask(text, max(10, px))
        x = max(0, (width - mask.shape[1]) // 2)
        blend_label(y, mask, x, int(height * row), shade=False)
    out: np.ndarray = frame.to_ndarray()
    out.flags.writeable = False
    return out


def slate_frame(width: int, height: int, stream: str) -> av.VideoFrame:
    """A fresh yuv420p slate frame (the OSD then draws on it, so it is never shared)."""
    return av.VideoFrame.from_ndarray(_slate_planes(width, height, stream), format="yuv420p")
