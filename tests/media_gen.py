"""Test media made on the spot: clips of the sim scene as a drone would record them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from relay.media.access_unit import CLOCK_RATE, AccessUnit
from relay.media.h264 import AnnexBRepair
from relay.sources.sim_scene import SimScene


def make_clip(
    path: Path,
    seconds: float = 3.0,
    size: tuple[int, int] = (640, 360),
    fps: int = 30,
    gop: int = 30,
    high_bframes: bool = True,
    bframes: int = 2,
) -> Path:
    """Writes an MP4 (or .ts) of the sim scene; High profile with 2 B-frames by default
    (`bframes=0`: High without B-frames, as some drones send)."""
    scene = SimScene(size[0], size[1], fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, fps)
        cc = stream.codec_context
        cc.gop_size = gop
        if high_bframes:
            cc.profile = "High"
            cc.max_b_frames = bframes
            cc.options = {
                "preset": "veryfast",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}",
            }
        else:
            cc.max_b_frames = 0
            cc.options = {
                "preset": "ultrafast",
                "tune": "zerolatency",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            }
        for i in range(int(seconds * fps)):
            frame = scene.render(i)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def access_units(clip: Path) -> list[AccessUnit]:
    """A clip's packets as a source hands them on: Annex B, repaired, 90 kHz, decode order."""
    units = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        repair = AnnexBRepair()
        repair.seed(stream.codec_context.extradata)
        for packet in container.demux(stream):
            for out in bsf.filter(packet):
                data, key = repair.repair(bytes(out))
                pts = int((out.pts or 0) * stream.time_base * CLOCK_RATE)
                units.append(AccessUnit(data, pts=pts, keyframe=key))
    return units
