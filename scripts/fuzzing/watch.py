#!/usr/bin/env python3
"""The watching viewer: joins the relay's watched stream over WHEP (a real aiortc peer that
decodes) and prints, once a second until it is stopped, `[monotonic_s, frames_decoded,
[[counter, capture_unix_ms], ...]]` with the burned-in marks of the frames new since the
last line (the capture time says which second of the source a frame belongs to).

    python scripts/fuzzing/watch.py BASE_URL TOKEN [STREAM]
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.whep_client import WhepViewer  # noqa: E402  (after the path is set)


async def main(base_url: str, token: str, stream: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    viewer = WhepViewer(base_url, stream, token=token)
    await viewer.start()
    shown = 0
    try:
        while not stop.is_set():
            timeline = viewer.received.timeline
            wall = time.time() - time.monotonic()
            marks = [
                [counter, round((at + wall) * 1000 - delay)]
                for at, counter, delay in timeline[shown:]
                if counter is not None and delay is not None
            ]
            shown = len(timeline)
            print(json.dumps([time.monotonic(), viewer.received.frames, marks]), flush=True)
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass
    finally:
        await viewer.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2] if len(args) > 2 else "watch"))
