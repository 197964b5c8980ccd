"""Push a clip rendered ahead (scripts/fake_drone.py FILE --at T) live, as its drone would.

Usage:
    python scripts/clip_push.py clip.flv rtmp://127.0.0.1:1935/live/alpha --at T
    python scripts/clip_push.py clip.ts udp://127.0.0.1:5000 --at T [--from S]

The clip's frame n carries the capture time T + n/fps in its frame marks. Each packet leaves
when the drone's encoder would have had it: at T plus the latest presentation time among the
packets so far (a P-frame that B-frames refer to leaves once it is captured, the B-frames
just after it). --from S starts at the clip's first keyframe at or after S seconds, at its
own time (a benchmark's later runs use later parts of one clip). The packets are copied,
never decoded or encoded, so the pusher costs a few percent of a core where a live 1080p
High+B encoder costs most of one: a benchmark on the relay's own box measures the relay, not
the drones. It starts at the first keyframe whose time is still ahead (a pusher started late
skips ahead: its marks must not lie about the delay); a clip with no such keyframe left
exits 2; SIGTERM stops it cleanly (exit 0); a refused or broken push exits 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import av
import av.error

LATE_START_S = 1.0


class Stop(Exception):
    """SIGTERM or SIGINT."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Push a clip rendered ahead at its capture times.")
    p.add_argument("clip", type=Path, help="a .flv or .ts file from fake_drone.py --at")
    p.add_argument("url", help="rtmp://HOST:PORT/APP/KEY or udp://HOST:PORT")
    p.add_argument("--at", type=float, required=True, metavar="UNIX_S", help="the clip's T")
    p.add_argument("--from", dest="start", type=float, default=0.0, metavar="S", help="skip S s")
    a = p.parse_args(argv)
    if a.start < 0:
        p.error("--from must be >= 0")
    if not a.clip.is_file():
        p.error(f"{a.clip}: no such file")
    if not a.url.startswith(("rtmp://", "udp://")):
        p.error("url must start with rtmp:// or udp://")
    return a


def open_output(url: str) -> av.container.OutputContainer:
    if url.startswith("udp://"):
        url += ("&" if "?" in url else "?") + "pkt_size=1316"
        return av.open(url, "w", format="mpegts", timeout=10.0)
    return av.open(url, "w", format="flv", timeout=10.0)


def push(a: argparse.Namespace) -> int:
    sent = 0
    with av.open(str(a.clip)) as clip:
        source = clip.streams.video[0]
        output = open_output(a.url)
        try:
            target = output.add_stream_from_template(source)
            first: float | None = None
            latest = 0.0
            for packet in clip.demux(source):
                if packet.pts is None or packet.time_base is None:
                    continue  # the demuxer's flush packet
                pts = float(packet.pts * packet.time_base)
                first = pts if first is None else first
                if not sent and (
                    pts - first < a.start
                    or not packet.is_keyframe
                    or time.time() > a.at + pts - first + LATE_START_S
                ):
                    continue  # before --from, not a keyframe to start with, or its time past
                latest = max(latest, pts - first)
                wait = a.at + latest - time.time()
                if wait > 0:
                    time.sleep(wait)
                packet.stream = target
                output.mux(packet)
                sent += 1
        finally:
            output.close()
    if not sent:
        print(f"clip_push: {a.clip} has no keyframe left to start with", file=sys.stderr)
        return 2
    print(f"clip_push: sent {sent} packets of {a.clip}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    try:
        return push(a)
    except Stop:
        return 0
    except (av.error.FFmpegError, OSError) as exc:
        print(f"clip_push: cannot push {a.clip} to {a.url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
