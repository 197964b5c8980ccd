"""OSD: stream name, UTC time and the live state, drawn on the frame's planes in place."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import av
import numpy as np

from relay.transcode.text import blend_label, text_mask


def planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable numpy views of a yuv420p frame's planes, without copying."""
    views = []
    for i, plane in enumerate(frame.planes):
        rows = frame.height if i == 0 else (frame.height + 1) // 2
        cols = frame.width if i == 0 else (frame.width + 1) // 2
        arr = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        views.append(arr[:rows, :cols])
    return views[0], views[1], views[2]


class Processor(Protocol):
    """A per-frame operation on a yuv420p frame's planes, in place."""

    name: str

    def process(self, frame: av.VideoFrame, live: bool) -> None: ...


def private_copy(frame: av.VideoFrame) -> av.VideoFrame:
    """A yuv420p frame of its own, for drawing on: `frame` may be shared (other rungs, the
    decoder's reference pictures)."""
    copy = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for target, source in zip(planes(copy), planes(frame), strict=True):
        target[:] = source
    copy.pts, copy.time_base = frame.pts, frame.time_base
    return copy


STALE_TINT = (40, 170)  # amber (U, V), as the KEIN SIGNAL badge: not current


def _badge(live: bool, still_s: float | None) -> str:
    if still_s is not None:
        return f"● STANDBILD −{still_s:.1f} s".replace(".", ",")
    return "● LIVE" if live else "● KEIN SIGNAL"


class OsdProcessor:
    """Bottom bar: "<stream> · <date time> UTC" on the left, a LIVE badge on the right; above
    it the stream's chosen telemetry (config `osd_telemetry`), amber when stale."""

    name = "osd"

    def __init__(self, stream: str) -> None:
        self.stream = stream
        # (text, stale) for the frame encoded now, or None: nothing drawn. Set by the stream
        # (relay.telemetry.osd_line.TelemetryLine): it reads the hub without locks.
        self.telemetry: Callable[[], tuple[str, bool] | None] | None = None

    def process(self, frame: av.VideoFrame, live: bool, still_s: float | None = None) -> None:
        """`still_s`: the picture is a still this many seconds old (a cold start's first
        picture, relay.transcode.cold_start), labelled so, in amber, not as live."""
        y, u, v = planes(frame)
        px = max(12, frame.height // 30)
        margin = px // 2
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        label = text_mask(f"{self.stream} · {now} UTC", px)
        top = frame.height - label.shape[0] - margin
        blend_label(y, label, margin, top)
        badge = text_mask(_badge(live, still_s), px, 700)
        bx = frame.width - badge.shape[1] - margin
        x, by, w, h = blend_label(y, badge, bx, top, ink=200)
        if w and h:
            # Red (live) or amber (no signal, a still) tint: chroma is a quarter of the area.
            cu, cv = (90, 220) if live and still_s is None else STALE_TINT
            u[by // 2 : (by + h) // 2, x // 2 : (x + w) // 2] = cu
            v[by // 2 : (by + h) // 2, x // 2 : (x + w) // 2] = cv
        line = self.telemetry() if self.telemetry is not None else None
        if line is not None:
            text, stale = line
            mask = text_mask(text, px)
            x, ty, w, h = blend_label(y, mask, margin, top - mask.shape[0] - margin // 2)
            if stale and w and h:
                u[ty // 2 : (ty + h) // 2, x // 2 : (x + w) // 2] = STALE_TINT[0]
                v[ty // 2 : (ty + h) // 2, x // 2 : (x + w) // 2] = STALE_TINT[1]
