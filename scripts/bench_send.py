#!/usr/bin/env python3
"""CPU of the lean send path per viewer, in process: feed -> send loop (-> pacer) -> SRTP ->
sendto, without ICE, DTLS or viewers to decode:

    .venv/bin/python scripts/bench_send.py [--viewers 100] [--seconds 5] [--runs 3] [--clear]

One 2 Mbit/s rung at 30 fps (a 60 kB keyframe every second, ~8 kB frames between), N tracks,
each sent by rtp_send's loop to a real UDP socket through its own SRTP session (aiortc's
sender is stood in for by the attributes the loop reads). Frames are published in real time,
so pacing happens as in the relay. Prints the process's CPU in cores and in microseconds per
viewer and frame, median of --runs. CPU time, unlike the fan-out benchmark's fps, means the
same on a loaded machine; run it against another checkout (PYTHONPATH=that checkout) to
compare send loops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc.rtcdtlstransport import State  # noqa: E402
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters  # noqa: E402
from aiortc.rtp import HeaderExtensionsMap  # noqa: E402
from pylibsrtp import Policy, Session  # noqa: E402

from relay.fanout.rendition import Rendition  # noqa: E402
from relay.media.packet import EncodedPacket, encoded_packet  # noqa: E402
from relay.webrtc import rtp_send  # noqa: E402
from relay.webrtc.packetize import RTP, packetize  # noqa: E402
from relay.webrtc.track import RenditionTrack  # noqa: E402

FPS = 30
P = "_RTCRtpSender__"


def frame(size: int, index: int, keyframe: bool) -> EncodedPacket:
    data = (
        b"\x00\x00\x00\x01" + (b"\x65" if keyframe else b"\x41") + bytes(range(256)) * (size // 256)
    )
    item = encoded_packet(data, index * 3000, keyframe, time.monotonic_ns())
    item.form(RTP, packetize)  # the encoder's thread's share, not a viewer's
    return item


def fake_sender(udp: Any, sink: tuple[str, int], track: RenditionTrack) -> Any:
    """The attributes of an RTCRtpSender that rtp_send's loop reads and writes."""
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(1, "urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(
                    3, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                ),
            ]
        )
    )
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=udp), remote_addr=sink)
    srtp = Session(Policy(key=bytes(30), ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    dtls = SimpleNamespace(
        _state=State.CONNECTED,
        transport=SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair})),
        _tx_srtp=srtp,
    )
    sender = SimpleNamespace(transport=dtls, _ssrc=1234, _rtx_ssrc=5678, _enabled=True)
    for name, value in {
        "track": track,
        "mid": "0",
        "rtp_header_extensions_map": extensions,
        "rtp_started": asyncio.Event(),
        "rtp_exited": asyncio.Event(),
        "rtp_history": {},
        "ntp_timestamp": 0,
        "rtp_timestamp": 0,
        "octet_count": 0,
        "packet_count": 0,
        "rtx_payload_type": 103,
        "rtx_sequence_number": 0,
        "rtt": None,
    }.items():
        setattr(sender, P + name, value)
    return sender


async def run(viewers: int, seconds: float, clear: bool) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # never read: the kernel drops what overflows, as a peer
    rendition = Rendition("bench", "720p", 2_000_000)
    frames = int(seconds * FPS)
    items = [frame(60_000 if i % FPS == 0 else 8_000, i, i % FPS == 0) for i in range(frames)]
    tasks, transports, senders, tracks = [], [], [], []
    for i in range(viewers):
        udp, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        transports.append(udp)
        track = RenditionTrack(rendition, f"v{i}")
        if clear:  # what the link watcher says of a LAN without loss (docs/pacing.md)
            track.pacer.set_target_bps(rendition.bitrate, clear=True)
        tracks.append(track)
        sender = fake_sender(udp, sink.getsockname(), track)
        senders.append(sender)
        tasks.append(
            loop.create_task(rtp_send._run_rtp(sender, SimpleNamespace(payloadType=102), track))
        )
    await asyncio.sleep(0.2)
    started, cpu = time.monotonic(), time.process_time()
    for i, item in enumerate(items):
        rendition.publish(item)
        await asyncio.sleep(max(0.0, started + (i + 1) / FPS - time.monotonic()))
    await asyncio.sleep(0.3)  # the last frames leave
    wall, used = time.monotonic() - started, time.process_time() - cpu
    packets = sum(getattr(s, P + "packet_count") for s in senders)
    pacers = [t.pacer for t in tracks if hasattr(t, "pacer")]  # none before the pacer
    dropped = sum(p.media_dropped for p in pacers)
    delays = sorted(p.queue_delay_ms for p in pacers) or [0.0]
    for subscriber in list(rendition.subscribers):
        subscriber.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    for udp in transports:
        udp.close()
    sink.close()
    return {
        "cores": round(used / wall, 3),
        "us_per_viewer_frame": round(used / (viewers * frames) * 1e6, 2),
        "packets_per_viewer_frame": round(packets / (viewers * frames), 2),
        "pacer_dropped_packets": dropped,
        "pacer_last_queue_delay_ms_max": round(delays[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clear", action="store_true", help="pace as on a clear link (10x)")
    args = parser.parse_args()
    if args.viewers < 1 or args.seconds <= 0 or args.runs < 1:
        parser.error("--viewers, --seconds and --runs must be positive")
    results = [asyncio.run(run(args.viewers, args.seconds, args.clear)) for _ in range(args.runs)]
    summary: dict[str, Any] = {"viewers": args.viewers, "runs": args.runs, "clear": args.clear}
    for key in results[0]:
        summary[key] = statistics.median(r[key] for r in results)
        summary[key + "_all"] = [r[key] for r in results]
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
