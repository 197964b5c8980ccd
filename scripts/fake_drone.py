"""A fake drone: pushes a live H.264 stream the way a drone's remote controller does.

Usage:
    python scripts/fake_drone.py rtmp://127.0.0.1:1935/live/demo [--size 1280x720] [--fps 30]
        [--gop 30] [--high-bframes] [--seconds N] [--file PATH] [--bitrate 3000000]
    python scripts/fake_drone.py udp://127.0.0.1:5000 [--klv] ...  (MPEG-TS over UDP)
    python scripts/fake_drone.py http://127.0.0.1:8080/whip/cam [--token T] ...   (WHIP)
    python scripts/fake_drone.py rtmp://… --dji split-pictures,split-nal,…|all   (DJI's RTMP)
    python scripts/fake_drone.py [URL] --mavlink udp://127.0.0.1:14550  (no URL: telemetry only)
    python scripts/fake_drone.py clip.flv|clip.ts --at UNIX_S --seconds N ...  (render ahead)

rtmp:// pushes FLV (AVC sequence header from the encoder's global header); udp:// sends
MPEG-TS in 1316-byte datagrams (SPS/PPS in band before each IDR), with --klv also MISB ST
0601 telemetry (10 Hz, a 200 m circle at 120 m) on a KLV data PID; http(s):// publishes over
WebRTC with FFmpeg's WHIP muxer (PyAV 18), with a fresh ECDSA P-256 certificate for DTLS:
the muxer's own key is on P-224 (FFmpeg on GnuTLS), which the OpenSSL under aiortc (the
relay) refuses, docs/interop.md (--token sends the publish token). The picture is the
relay's synthetic aerial scene with burned-in frame marks (relay.media.frame_marks), or with
--file the looped video of a file, decoded, scaled and re-encoded (never remuxed, so that
--gop/--high-bframes apply), with the frame marks burned in as well. Encoding: libx264,
baseline-like (ultrafast, zerolatency, no B-frames) or, with --high-bframes, High profile
with a fixed I B B P pattern (veryfast, no lookahead). --mavlink sends the same flight as
MAVLink 2 over UDP at 10 Hz (scripts/mavlink_out.py; scripts/flight_path.py is the flight of
both), beside the video or, without a URL, alone. --dji pushes RTMP with DJI controllers'
quirks through our own RTMP publisher (scripts/dji_quirks.py lists them). The stream is
paced at real time; --seconds N stops after N s. With a file name (.flv or .ts) and --at, it
renders a clip ahead instead, as fast as it encodes, whose frame n carries the capture time
at + n/fps: scripts/clip_push.py pushes it at that time, so a benchmark's box does not pay
for the drones' encoders. Exit status: 0 on a clean stop (--seconds, Ctrl-C, SIGTERM), 1 if
the RTMP or WHIP server refuses or drops the connection (UDP cannot tell), 2 for bad
arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import FrameType

import av
import av.error
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))  # dji_quirks beside it

from dji_quirks import QUIRKS, parse_quirks, push_dji  # noqa: E402
from drone_frames import file_frames, probe_file, sim_frames  # noqa: E402
from klv_make import flight_packet, mux_klv  # noqa: E402
from mavlink_out import MavlinkOut, parse_udp  # noqa: E402

from relay.media.frame_marks import write_marks  # noqa: E402
from relay.outputs.whip_cert import ecdsa_certificate  # noqa: E402
from relay.sources.rtmp_publish import PublishRefused  # noqa: E402

log = logging.getLogger("fake_drone")


class Stop(Exception):
    """SIGTERM or SIGINT (Ctrl-C): stop cleanly."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Push a live H.264 stream like a drone does.")
    p.add_argument(
        "url",
        nargs="?",
        help="rtmp://HOST:PORT/APP/KEY (FLV), udp://HOST:PORT (MPEG-TS) or "
        "http://HOST:PORT/whip/STREAM (WHIP); none: only the --mavlink telemetry",
    )
    p.add_argument("--size", default=None, help="WxH (default 1280x720, or the file's)")
    p.add_argument("--fps", type=int, default=None, help="frame rate (default 30, or the file's)")
    p.add_argument("--gop", type=int, default=30, help="frames from IDR to IDR (default 30)")
    p.add_argument(
        "--high-bframes",
        action="store_true",
        help="High profile with 2 B-frames instead of baseline-like",
    )
    p.add_argument("--seconds", type=float, default=None, help="stop after N s (default: never)")
    p.add_argument("--file", type=Path, default=None, help="loop this video instead of the sim")
    p.add_argument("--bitrate", type=int, default=3_000_000, help="bits/s (default 3000000)")
    p.add_argument("--token", default=None, help="WHIP: the publish token (Bearer)")
    p.add_argument(
        "--dji",
        default=None,
        metavar="QUIRK[,QUIRK…]",
        help="RTMP as DJI controllers send it: all, or some of " + ", ".join(QUIRKS),
    )
    p.add_argument(
        "--klv",
        action="store_true",
        help="udp:// only: MISB ST 0601 telemetry at 10 Hz on a KLV data PID, flying a circle",
    )
    p.add_argument("--mavlink", default=None, metavar="udp://HOST:PORT", help="MAVLink at 10 Hz")
    p.add_argument(
        "--at",
        type=float,
        default=None,
        metavar="UNIX_S",
        help="render ahead into the file given as URL (.flv, .ts): frame n's marks say at + n/fps",
    )
    a = p.parse_args(argv)
    if a.at is not None:
        if not (a.url or "").endswith((".flv", ".ts")) or "://" in (a.url or ""):
            p.error("--at renders into a file: give a path ending .flv or .ts as URL")
        if a.seconds is None or a.klv or a.dji or a.mavlink or a.file:
            p.error("--at needs --seconds and works without --klv, --dji, --mavlink and --file")
    if a.mavlink is not None:
        try:
            parse_udp(a.mavlink)
        except ValueError as exc:
            p.error(f"--mavlink: {exc}")
    if a.url is None:
        if a.mavlink is None:
            p.error("give a URL to push video to, or --mavlink udp://HOST:PORT (or both)")
        if a.seconds is not None and a.seconds <= 0:
            p.error("--seconds must be positive")
        return a
    if a.klv and not a.url.startswith("udp://"):
        p.error("--klv: udp:// (MPEG-TS) only")
    if a.dji is not None:
        try:
            a.dji = parse_quirks(a.dji)
        except ValueError as exc:
            p.error(f"--dji: {exc}")
        if not a.url.startswith("rtmp://") or a.high_bframes or a.file:
            p.error("--dji: rtmp:// only, without --high-bframes and --file")
    if a.at is None and not a.url.startswith(
        ("rtmp://", "rtmps://", "udp://", "http://", "https://")
    ):
        p.error("url must start with rtmp://, rtmps://, udp://, http:// or https:// (WHIP)")
    if a.high_bframes and a.url.startswith("http"):
        p.error("--high-bframes: WebRTC (WHIP) carries no B-frames")
    if a.size is not None:
        try:
            a.width, a.height = (int(v) for v in a.size.lower().split("x"))
        except ValueError:
            p.error("--size must look like 1280x720")
        if not (
            16 <= a.width <= 7680
            and 16 <= a.height <= 4320
            and a.width % 2 == 0
            and a.height % 2 == 0
        ):
            p.error("--size must be even, 16x16 up to 7680x4320")
    if a.fps is not None and not 1 <= a.fps <= 120:
        p.error("--fps must be within 1..120")
    if not 1 <= a.gop <= 1000:
        p.error("--gop must be within 1..1000")
    if a.seconds is not None and a.seconds <= 0:
        p.error("--seconds must be positive")
    if a.bitrate < 10_000:
        p.error("--bitrate must be at least 10000")
    width, height, fps = 1280, 720, 30
    if a.file is not None:
        try:
            width, height, fps = probe_file(a.file)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            p.error(f"--file {a.file}: {exc}")
    if a.size is None:
        a.width, a.height = width, height
    a.fps = a.fps or fps
    return a


def open_output(
    a: argparse.Namespace, folder: str
) -> tuple[av.container.OutputContainer, av.VideoStream]:
    if a.url.startswith("http"):
        # The muxer's HTTP exchange and DTLS handshake happen in open/first mux.
        options = {"handshake_timeout": "10000", **ecdsa_certificate(folder)}
        if a.token:
            options["authorization"] = a.token
        container = av.open(a.url, "w", format="whip", options=options)
    elif a.at is not None:  # a clip rendered ahead (scripts/clip_push.py pushes it)
        container = av.open(a.url, "w", format="flv" if a.url.endswith(".flv") else "mpegts")
    elif a.url.startswith("udp://"):
        url = a.url + ("&" if "?" in a.url else "?") + "pkt_size=1316"
        container = av.open(url, "w", format="mpegts", timeout=10.0)
        if a.klv:
            container.add_mux_stream("klv")  # FFmpeg's smpte_klv: stream type 0x06, KLVA
    else:
        container = av.open(a.url, "w", format="flv", timeout=10.0)
    stream = container.add_stream("libx264", rate=a.fps)
    enc = stream.codec_context
    enc.width, enc.height, enc.pix_fmt = a.width, a.height, "yuv420p"
    enc.time_base = Fraction(1, a.fps)
    stream.time_base = Fraction(1, a.fps)  # a hint: FLV rounds it to 1/1000 when it starts
    enc.bit_rate = a.bitrate
    enc.gop_size = a.gop
    if container.format.name == "flv":
        # FLV carries SPS/PPS once, in the AVC sequence header built from extradata. PyAV
        # sets this itself for formats that want a global header; set it to be explicit.
        enc.flags |= av.codec.context.Flags.global_header
    x264 = f"keyint={a.gop}:min-keyint={a.gop}:scenecut=0"
    rate = {"maxrate": str(a.bitrate), "bufsize": str(a.bitrate)}  # 1 s VBV: no big bursts
    if a.high_bframes:
        enc.max_b_frames = 2
        # A fixed I B B P pattern without lookahead, as hardware encoders have: the encoder
        # holds ~3 frames, not the ~11 of x264's adaptive B-frame decision.
        x264 += ":b-adapt=0:rc-lookahead=0:sync-lookahead=0"
        enc.options = {"preset": "veryfast", "profile": "high", "x264-params": x264, **rate}
    else:
        enc.max_b_frames = 0
        enc.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "x264-params": x264,
            **rate,
        }
    return container, stream


def push(a: argparse.Namespace) -> None:
    frames = (
        file_frames(a.file, a.width, a.height)
        if a.file
        else sim_frames(a.width, a.height, a.fps, a.at)
    )
    # The WHIP muxer reads its certificate when it connects: the folder lives as long.
    with tempfile.TemporaryDirectory(prefix="fake-drone-") as folder:
        container, stream = open_output(a, folder)
        send(a, frames, container, stream)


def send(
    a: argparse.Namespace,
    frames: Iterator[av.VideoFrame],
    container: av.container.OutputContainer,
    stream: av.VideoStream,
) -> None:
    log.info(
        "pushing %s %dx%d@%d gop %d %s %d bit/s to %s (%s)",
        f"file {a.file}" if a.file else "sim scene",
        a.width,
        a.height,
        a.fps,
        a.gop,
        "High+2B" if a.high_bframes else "baseline",
        a.bitrate,
        a.url,
        container.format.name,
    )
    start = time.monotonic()
    index = 0
    try:
        while a.seconds is None or index < a.seconds * a.fps:
            delay = start + index / a.fps - time.monotonic()
            if a.at is not None:
                pass  # rendering ahead: as fast as it encodes, the marks say when
            elif delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # stalled for more than 1 s: skip ahead, do not burst
                log.warning("%.1f s behind, skipping ahead", -delay)
                start = time.monotonic() - index / a.fps
            frame = next(frames)  # taken at its due time: the marks carry that moment
            if a.file:
                planes = np.asarray(frame.to_ndarray(), np.uint8)  # yuv420p: Y, then U, V
                write_marks(planes[: a.height], index, time.time_ns() // 1_000_000)
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, a.fps)
            container.mux(stream.encode(frame))
            klv = flight_packet(index, a.fps) if a.klv else None
            if klv is not None:
                mux_klv(container, container.streams.data[0], klv, index * 90_000 // a.fps)
            index += 1
    except Stop:
        log.info("stopping")
    container.mux(stream.encode(None))  # drain the encoder (B-frames, lookahead)
    container.close()
    log.info("sent %d frames", index)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fake_drone: %(message)s")
    # SIGINT too: a shell that starts us in the background would have it ignored.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    mavlink = MavlinkOut(a.mavlink) if a.mavlink else None
    try:
        if mavlink is not None and a.url is None:
            mavlink.run(a.seconds)  # telemetry only
            return 0
        if mavlink is not None:
            mavlink.start()
        if a.dji is not None:
            asyncio.run(push_dji(a, a.dji))
        else:
            push(a)
    except PublishRefused as exc:
        print(f"fake_drone: {a.url} refused the push: {exc}", file=sys.stderr)
        return 1
    except Stop:
        return 0  # a second interrupt while draining
    except (av.error.FFmpegError, OSError) as exc:
        print(f"fake_drone: cannot push to {a.url}: {exc}", file=sys.stderr)
        return 1
    finally:
        if mavlink is not None:
            mavlink.stop()
            log.info("sent MAVLink %d times", mavlink.sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
