#!/usr/bin/env python3
"""What one fMP4 fragment costs: the relay's hand-written boxes (relay/mse/fmp4.py) against
PyAV's mp4 muxer with movflags empty_moov+default_base_moof+frag_every_frame into memory,
per 720p frame (the sim scene, x264 without B-frames as the rungs encode).

    .venv/bin/python scripts/bench_fmp4.py [--seconds 5] [--repeat 15]

Prints ONE JSON object: CPU microseconds per frame for each way (process time, the least of
the repeats: the machine is shared), the part of the hand-written one that runs on the event
loop, and the bytes each adds per frame over the H.264 itself.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.media.access_unit import AccessUnit  # noqa: E402
from relay.mse import fmp4  # noqa: E402
from tests.media_gen import access_units, make_clip  # noqa: E402


def by_hand(units: list[AccessUnit]) -> tuple[float, int]:
    t0 = time.process_time()
    out = 0
    for i, unit in enumerate(units):
        sample = fmp4.sample(unit.data)
        fragment = fmp4.fragment_header(i, unit.pts, 3000, unit.keyframe, len(sample)) + sample
        out += len(fragment)
    return time.process_time() - t0, out


def on_loop(units: list[AccessUnit]) -> tuple[float, int]:
    """The part on the event loop: the header and the one concatenation (the sample is a
    transport form built in the encoder's thread)."""
    samples = [fmp4.sample(u.data) for u in units]
    t0 = time.process_time()
    out = 0
    for i, (unit, sample) in enumerate(zip(units, samples, strict=True)):
        out += len(fmp4.fragment_header(i, unit.pts, 3000, unit.keyframe, len(sample)) + sample)
    return time.process_time() - t0, out


def by_pyav(units: list[AccessUnit], extradata: bytes) -> tuple[float, int]:
    buffer = io.BytesIO()
    t0 = time.process_time()
    container = av.open(
        buffer, "w", format="mp4",
        options={"movflags": "empty_moov+default_base_moof+frag_every_frame"},
    )  # fmt: skip
    stream = container.add_stream("h264", rate=30)
    stream.width, stream.height = 1280, 720
    stream.codec_context.extradata = extradata
    stream.time_base = Fraction(1, 90000)
    for unit in units:
        packet = av.Packet(unit.data)  # Annex B: the muxer converts it to length prefixes
        packet.pts = packet.dts = unit.pts
        packet.time_base = Fraction(1, 90000)
        packet.is_keyframe = unit.keyframe
        packet.stream = stream
        container.mux(packet)
    container.close()
    return time.process_time() - t0, buffer.tell()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "c.mp4", args.seconds, (1280, 720), high_bframes=False)
        units = access_units(clip)
    sets = fmp4.parameter_sets(units[0].data)
    assert sets is not None
    extradata = b"".join(b"\x00\x00\x00\x01" + n for n in sets)
    h264 = sum(len(u.data) for u in units)
    hand = [by_hand(units) for _ in range(args.repeat)]
    pyav = [by_pyav(units, extradata) for _ in range(args.repeat)]
    loop = [on_loop(units) for _ in range(args.repeat)]
    n = len(units)
    print(json.dumps({
        "frames": n,
        "h264_bytes_per_frame": round(h264 / n),
        "by_hand_us_per_frame": round(min(t for t, _ in hand) / n * 1e6, 1),
        "by_hand_on_loop_us_per_frame": round(min(t for t, _ in loop) / n * 1e6, 1),
        "pyav_us_per_frame": round(min(t for t, _ in pyav) / n * 1e6, 1),
        "by_hand_overhead_bytes_per_frame": round((hand[0][1] - h264) / n, 1),
        "pyav_overhead_bytes_per_frame": round((pyav[0][1] - h264) / n, 1),
        "load": os.getloadavg()[0],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
