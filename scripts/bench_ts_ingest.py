#!/usr/bin/env python3
"""How long the relay's MPEG-TS/UDP ingest holds a frame before it hands it on.

    .venv/bin/python scripts/bench_ts_ingest.py [--size 640x512] [--bitrate 1000000]
        [--seconds 6] [--runs 3]

A clip of the sim scene (no B-frames, frame marks carrying the time each frame is pushed) is
rendered ahead with scripts/fake_drone.py --at and pushed over UDP by scripts/clip_push.py,
datagram by datagram at those times, as bench_fleet's bravo and ir drones are. It is read
the way the relay's udp:// source opens it (relay.sources.demux.UdpTsSource: FFmpeg's UDP
input and MPEG-TS demuxer, the same URL and options); each demuxed packet is decoded at once
on one thread (no reordering: the clip has no B-frames) and its marks read. The delay is
push time -> demuxed and decoded, over the frames after the first second (the demuxer's
probing burst). Prints one JSON object: medians of --runs, the frame interval, and how many
frame intervals the delay is.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import av.error

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.media.frame_marks import read_marks  # noqa: E402
from relay.sources.demux import UdpTsSource  # noqa: E402
from scripts.relay_process import free_port  # noqa: E402

FPS = 30
SKIP_S = 1.0  # the demuxer's probing hands the first packets on in a burst
LEAD_S = 3.0  # the clip's first frame is due this long after rendering starts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="640x512", help="WxH of the drone's picture")
    p.add_argument("--bitrate", type=int, default=1_000_000, help="the drone's bit/s")
    p.add_argument("--seconds", type=float, default=6.0, help="pushed per run (>= 3)")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args(argv)
    try:
        width, height = (int(v) for v in a.size.split("x"))
    except ValueError:
        p.error("--size must be WxH, such as 640x512")
    if not (64 <= width <= 3840 and 64 <= height <= 2160):
        p.error("--size must be between 64x64 and 3840x2160")
    if not 3.0 <= a.seconds <= 120.0:
        p.error("--seconds must be between 3 and 120")
    if not 1 <= a.runs <= 20:
        p.error("--runs must be between 1 and 20")
    if not 100_000 <= a.bitrate <= 50_000_000:
        p.error("--bitrate must be between 100000 and 50000000")
    return a


def one_run(a: argparse.Namespace, folder: Path) -> dict[str, Any]:
    clip = folder / "drone.ts"
    at = time.time() + LEAD_S
    render = [sys.executable, str(ROOT / "scripts" / "fake_drone.py"), str(clip)]
    render += ["--at", repr(at), "--seconds", str(a.seconds), "--size", a.size]
    render += ["--bitrate", str(a.bitrate), "--gop", str(4 * FPS)]
    subprocess.run(render, check=True, stderr=subprocess.DEVNULL)
    if time.time() > at:
        raise RuntimeError("rendering the clip took longer than its lead: a loaded machine")
    port = free_port(socket.SOCK_DGRAM)
    url, options, fmt = UdpTsSource(f"udp://127.0.0.1:{port}").open_args()
    push = [sys.executable, str(ROOT / "scripts" / "clip_push.py"), str(clip)]
    pusher = subprocess.Popen(
        [*push, f"udp://127.0.0.1:{port}", "--at", repr(at)], stderr=subprocess.DEVNULL
    )
    delays: list[float] = []
    try:
        container = av.open(url, "r", format=fmt, options=options, timeout=(10.0, 2.0))
        try:
            stream = container.streams.video[0]
            decoder = av.CodecContext.create("h264", "r")
            decoder.extradata = stream.codec_context.extradata
            decoder.thread_count = 1
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                now_ms = time.time() * 1000
                for frame in decoder.decode(packet):
                    marks = read_marks(frame.to_ndarray(format="gray"))
                    if marks is not None and marks[1] >= (at + SKIP_S) * 1000:
                        delays.append(now_ms - marks[1])
        except av.error.FFmpegError:
            pass  # the pusher ended: the demuxer's read times out
        finally:
            container.close()
    finally:
        pusher.kill()
        pusher.wait()
    if len(delays) < FPS:
        raise RuntimeError(f"only {len(delays)} marked frames read")
    delays.sort()
    return {
        "frames": len(delays),
        "p50_ms": round(delays[len(delays) // 2], 1),
        "p95_ms": round(delays[int(len(delays) * 0.95)], 1),
    }


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-ts-ingest-") as folder:
        for _ in range(a.runs):
            try:
                runs.append(one_run(a, Path(folder)))
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                runs.append({"error": str(exc)})
    good = [r for r in runs if "error" not in r]
    interval_ms = 1000 / FPS
    p50 = statistics.median(r["p50_ms"] for r in good) if good else None
    result = {
        "what": "push time -> demuxed and decoded, the relay's udp:// MPEG-TS open",
        "size": a.size,
        "bitrate": a.bitrate,
        "runs": a.runs,
        "delay_p50_ms": p50,
        "delay_p95_ms": statistics.median(r["p95_ms"] for r in good) if good else None,
        "frame_interval_ms": round(interval_ms, 1),
        "frames_behind_p50": None if p50 is None else round(p50 / interval_ms, 2),
        "each_run": runs,
    }
    print(json.dumps(result))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
