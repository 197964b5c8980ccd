#!/usr/bin/env python3
"""What a drone's B-frames cost in delay before the relay can do anything, and how much of it
FFmpeg's H.264 decoder adds: the floor under a B-frame drone's glass-to-glass delay.

    .venv/bin/python scripts/bench_reorder.py [--size 1920x1080] [--bitrate 6000000]
        [--seconds 4] [--without-bframes]

The fleet's alpha clip (scripts/fake_drone.py --high-bframes: x264 High, a fixed I B B P
pattern without lookahead, as bench_fleet renders it) is rendered and read back packet by
packet in its file's order. Each packet is timed as scripts/clip_push.py sends it: when the
drone's encoder would have had it, at the latest capture time among the packets so far (a
P-frame once it is captured, the B-frames that refer to it just after it). Every time below
is counted in the clip's own frame times, not on the wall clock, so the figures are exact
and do not depend on the machine's load: no encoding, sending or decoding *time* is in them,
only the waits that the stream's structure and the decoder's rule impose.

For each picture it reports, from its capture:
- `sent`: when it leaves the drone;
- `ffmpeg`: when FFmpeg's h264 decoder alone (slice threads, no frame threads) gives it
  out, each packet decoded at its send time;
- `relay`: when the relay's decoder (relay.transcode.prompt_decoder: FFmpeg's, told with
  skip pictures when a picture may come out) gives it out;
- `display_order`: the earliest any decoder could give it out in display order: once it has
  arrived and every picture before it has been given out.
and `*_wait_after_arrival`, its wait in the decoder from its own packet's arrival (what
the relay's `rung_delay_ms` includes since the transcoder times a picture from its own
packet), and how many skip pictures the relay's decoder fed. The one figure in machine time
is each decoder's CPU per picture over the whole clip (process time in its calls; both run
in the same process, one after the other for each packet): what the skip pictures cost.
Prints one JSON object: p50/p95/max in ms per figure, the reorder depth that the stream's
SPS declares (FFmpeg holds that many pictures) and the depth it actually needs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.media.access_unit import CLOCK_RATE, TIME_BASE  # noqa: E402
from relay.media.h264 import NAL_SPS, nal_type, parameter_sets  # noqa: E402
from relay.media.sps import max_reorder  # noqa: E402
from relay.transcode.prompt_decoder import PromptDecoder  # noqa: E402
from scripts.lte.glass import quantile  # noqa: E402

FPS = 30
SKIP_S = 1.0  # the first second: the decoder's start, not its steady rule


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1920x1080", help="WxH of the drone's picture")
    p.add_argument("--bitrate", type=int, default=6_000_000, help="the drone's bit/s")
    p.add_argument("--seconds", type=float, default=4.0, help="of clip (>= 2)")
    p.add_argument("--without-bframes", action="store_true", help="the same drone without B-frames")
    a = p.parse_args(argv)
    try:
        width, height = (int(v) for v in a.size.split("x"))
    except ValueError:
        p.error("--size must be WxH, such as 1920x1080")
    if not (64 <= width <= 3840 and 64 <= height <= 2160):
        p.error("--size must be between 64x64 and 3840x2160")
    if not 2.0 <= a.seconds <= 60.0:
        p.error("--seconds must be between 2 and 60")
    if not 100_000 <= a.bitrate <= 50_000_000:
        p.error("--bitrate must be between 100000 and 50000000")
    return a


def render(a: argparse.Namespace, clip: Path) -> None:
    command = [sys.executable, str(ROOT / "scripts" / "fake_drone.py"), str(clip)]
    command += ["--at", repr(time.time()), "--seconds", str(a.seconds), "--size", a.size]
    command += ["--bitrate", str(a.bitrate), "--gop", str(4 * FPS)]
    command += [] if a.without_bframes else ["--high-bframes"]
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL)


def timeline(clip: Path) -> dict[str, Any]:
    """Per picture (by capture time, its pts in s): sent, FFmpeg's output, the relay's
    decoder's output and the display-order floor; the packets are read and decoded in the
    clip's (decoding) order, in Annex B as the relay's sources hand them on."""
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_type = "SLICE"  # as FFmpeg's decoder alone would run in the relay
    relay = PromptDecoder(TIME_BASE)
    sent: dict[Fraction, Fraction] = {}
    ffmpeg: dict[Fraction, Fraction] = {}
    prompt: dict[Fraction, Fraction] = {}
    latest = Fraction(0)
    needed_depth = 0
    cpu = {"ffmpeg": 0.0, "relay": 0.0}  # process CPU s in each decoder's calls
    units: list[tuple[Fraction, bytes]] = []  # capture time, Annex B, in decoding order
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        extradata = stream.codec_context.extradata  # FLV: the SPS and PPS, once
        annex_b = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        for packet in container.demux(stream):
            for unit in annex_b.filter(packet):
                if unit.pts is not None and unit.time_base is not None:
                    units.append((Fraction(unit.pts * unit.time_base), bytes(unit)))
    for capture, _ in units:
        # Pictures sent earlier that are shown after this one: the reorder it needs.
        needed_depth = max(needed_depth, sum(1 for c in sent if c > capture))
        latest = sent[capture] = max(latest, capture)  # clip_push.py's rule
    for index, (capture, data) in enumerate(units):
        pts, at = int(capture * CLOCK_RATE), sent[capture]
        packet = av.Packet(data)
        packet.pts, packet.time_base = pts, TIME_BASE
        # As the transcoder: told to let pictures out only when no unit waits behind this
        # one (one sent at the same time: the B-frames just after their P-frame).
        last = index + 1 == len(units) or sent[units[index + 1][0]] > at
        t0 = time.process_time()
        frames = decoder.decode(packet)
        t1 = time.process_time()
        shown = relay.decode(data, pts, prompt=last)
        cpu["ffmpeg"] += t1 - t0
        cpu["relay"] += time.process_time() - t1
        for frame in frames:
            ffmpeg[Fraction(frame.pts or 0, CLOCK_RATE)] = at
        for frame in shown:
            prompt[Fraction(frame.pts or 0, CLOCK_RATE)] = at
    floor: dict[Fraction, Fraction] = {}
    previous = Fraction(0)
    for capture in sorted(sent):
        previous = floor[capture] = max(sent[capture], previous)
    return {
        "sent": sent,
        "ffmpeg": ffmpeg,
        "relay": prompt,
        "display_order": floor,
        "declared_depth": declared_reorder(extradata),
        "needed_depth": needed_depth,
        "skip_pictures": relay.skip_pictures,
        "relay_prompt": relay.prompt,
        "cpu_s": cpu,
    }


def declared_reorder(extradata: bytes | None) -> int | None:
    """max_num_reorder_frames of the stream's SPS: how many pictures FFmpeg's decoder holds."""
    sps = next((n for n in parameter_sets(extradata) if nal_type(n) == NAL_SPS), None)
    return None if sps is None else max_reorder(sps)


def quantiles(values: list[float]) -> dict[str, float | None]:
    def at(q: float) -> float | None:
        value = quantile(values, q)
        return None if value is None else round(value, 1)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "max_ms": at(1.0)}


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-reorder-") as folder:
        clip = Path(folder) / "alpha.flv"
        render(a, clip)
        line = timeline(clip)
    start = min(line["sent"]) + Fraction(SKIP_S)
    # Only the pictures FFmpeg gave out while the clip ran (the last few wait for a flush).
    pictures = [c for c in sorted(line["ffmpeg"]) if c >= start]
    ms = 1000.0

    def since_capture(kind: str) -> dict[str, float | None]:
        return quantiles([float(line[kind][c] - c) * ms for c in pictures])

    result = {
        "clip": {"size": a.size, "bframes": not a.without_bframes, "fps": FPS},
        "pictures": len(pictures),
        "frame_interval_ms": round(ms / FPS, 1),
        "capture_to_sent": since_capture("sent"),
        "capture_to_ffmpeg_out": since_capture("ffmpeg"),
        "capture_to_display_order_floor": since_capture("display_order"),
        "ffmpeg_wait_after_arrival": quantiles(
            [float(line["ffmpeg"][c] - line["sent"][c]) * ms for c in pictures]
        ),
        "capture_to_relay_out": since_capture("relay"),
        "relay_wait_after_arrival": quantiles(
            [float(line["relay"][c] - line["sent"][c]) * ms for c in pictures]
        ),
        "relay_skip_pictures": line["skip_pictures"],
        "relay_prompt": line["relay_prompt"],
        # The one machine-time figure: what the skip pictures cost (the whole clip).
        "decode_cpu_ms_per_picture": {
            kind: round(seconds * ms / len(line["sent"]), 2)
            for kind, seconds in line["cpu_s"].items()
        },
        "reorder_depth_declared": line["declared_depth"],
        "reorder_depth_needed": line["needed_depth"],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
