#!/usr/bin/env python3
"""Per-viewer cost of the send loop's source, in process, without sockets:

    .venv/bin/python scripts/bench_feed.py

One rendition, N tracks (1 and 50); each packet (a ~10 kB frame, packetized once, in the
"encoder's thread" before the clock starts, as in the relay) is published and taken by
every track through RenditionTrack.next_payloads (feed, switching, RTP form lookup). Prints
the CPU microseconds per viewer and frame, median of 5 runs. SRTP and sendto, the rest of a
viewer's cost, are not in it: bench_fanout.py measures the whole.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relay.fanout.rendition import Rendition  # noqa: E402
from relay.media.packet import encoded_packet  # noqa: E402
from relay.webrtc.packetize import RTP, packetize  # noqa: E402
from relay.webrtc.track import RenditionTrack  # noqa: E402

FRAME = b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 40  # ~10 kB: ~9 RTP packets


async def run(viewers: int, frames: int) -> float:
    loop = asyncio.get_running_loop()
    rendition = Rendition("bench", "720p", 2_000_000)
    tracks = [RenditionTrack(rendition, f"v{i}") for i in range(viewers)]
    items = [encoded_packet(FRAME, i * 3000, True, time.monotonic_ns()) for i in range(frames)]
    for item in items:
        item.form(RTP, packetize)  # the encoder's thread's share, not a viewer's
    started = time.process_time()
    for item in items:
        loop.call_soon_threadsafe(rendition.publish, item)
        await asyncio.sleep(0)
        for track in tracks:
            await track.next_payloads()
    return (time.process_time() - started) / (frames * viewers) * 1e6


def main() -> None:
    for viewers, frames in ((1, 3000), (50, 300)):
        runs = [asyncio.run(run(viewers, frames)) for _ in range(5)]
        print(
            f"viewers={viewers}: {statistics.median(runs):.2f} us CPU per viewer and frame "
            f"(median of 5: {', '.join(f'{r:.2f}' for r in runs)})"
        )


if __name__ == "__main__":
    main()
