"""sim:// the built-in synthetic drone: renders the sim scene and encodes it like a drone."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from urllib.parse import parse_qs, urlsplit

import av

from relay.media.access_unit import CLOCK_RATE, AccessUnit
from relay.sources.base import Emit
from relay.sources.scheme import pull


@dataclass(frozen=True)
class SimParams:
    width: int = 1280
    height: int = 720
    fps: int = 30
    gop: int = 30

    @classmethod
    def from_url(cls, url: str) -> SimParams:
        """Parses sim://?size=WxH&fps=N&gop=N; raises ValueError naming the bad parameter."""
        query = parse_qs(urlsplit(url).query, keep_blank_values=True)
        unknown = set(query) - {"size", "fps", "gop"}
        if unknown:
            raise ValueError(f"unknown parameter {sorted(unknown)[0]!r} (size, fps, gop)")
        p = cls()
        if "size" in query:
            try:
                w, h = (int(v) for v in query["size"][-1].lower().split("x"))
            except ValueError:
                raise ValueError("size must look like 1280x720") from None
            if not (160 <= w <= 3840 and 120 <= h <= 2160 and w % 2 == 0 and h % 2 == 0):
                raise ValueError("size must be even, 160x120 up to 3840x2160")
            p = cls(w, h, p.fps, p.gop)
        for key, low, high in (("fps", 1, 60), ("gop", 1, 600)):
            if key in query:
                try:
                    value = int(query[key][-1])
                except ValueError:
                    raise ValueError(f"{key} must be a whole number") from None
                if not low <= value <= high:
                    raise ValueError(f"{key} must be within {low}..{high}")
                p = cls(**{**p.__dict__, key: value})
        return p


def make_drone_encoder(
    width: int, height: int, fps: int, gop: int, bitrate: int = 4_000_000
) -> av.VideoCodecContext:
    """An x264 encoder set up as a drone's: fixed GOP, Annex B with SPS/PPS on each IDR."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.framerate = Fraction(fps, 1)
    enc.bit_rate = bitrate
    enc.gop_size = gop
    enc.max_b_frames = 0
    enc.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1",
    }
    enc.thread_count = 1
    return enc


class SimSource:
    """The synthetic drone, paced at its frame rate."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.params = SimParams.from_url(url)

    def run(self, emit: Emit, stop: threading.Event) -> None:
        from relay.sources.sim_scene import SimScene

        p = self.params
        scene = SimScene(p.width, p.height, p.fps)
        encoder = make_drone_encoder(p.width, p.height, p.fps, p.gop)
        ticks_per_frame = CLOCK_RATE // p.fps
        start = time.monotonic()
        index = 0
        while not stop.is_set():
            due = start + index / p.fps
            delay = due - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            elif delay < -1.0:  # far behind (machine stalled): skip ahead, do not burst
                start = time.monotonic() - index / p.fps
            frame = scene.render(index)
            frame.pts = index
            for packet in encoder.encode(frame):
                emit(
                    AccessUnit(
                        bytes(packet),
                        pts=int(packet.pts or index) * ticks_per_frame,
                        keyframe=packet.is_keyframe,
                    )
                )
            index += 1


__all__ = ["SimParams", "SimSource"]


def _check(url: str) -> str | None:
    try:
        SimParams.from_url(url)
    except ValueError as exc:
        return str(exc)
    return None


SCHEMES = (pull("sim", SimSource, "sim://?size=1280x720&fps=30&gop=30", check=_check),)
