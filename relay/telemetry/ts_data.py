"""KLV from the stream's own MPEG-TS: the demux thread's data packets, parsed there and
handed to the event loop.

DemuxSource calls `on_data(payload, pts)` from its reading thread for each packet of a KLV
data stream (stream type 0x06 with the KLVA registration, or 0x15 metadata). Parsing a
packet is microseconds of work, done in that thread; only the finished samples and causes
cross to the loop, with call_soon_threadsafe. A loop that falls behind by more than
MAX_PENDING hand-overs loses the newest ones (counted): telemetry is replaced by the next
sample anyway, and the video thread must never wait for it.
"""

from __future__ import annotations

import asyncio
import threading
import time

from relay.telemetry.klv import decode_payload
from relay.telemetry.model import Telemetry
from relay.telemetry.sink import Sink

MAX_PENDING = 64  # hand-overs queued on the loop; KLV comes at 1..30 Hz


class KlvFeed:
    """The `on_data` hook of one stream's demux: KLV payloads in, samples out to `sink`."""

    def __init__(self, sink: Sink, loop: asyncio.AbstractEventLoop) -> None:
        self.sink = sink
        self.loop = loop
        self.packets = 0
        self.dropped = 0  # hand-overs lost because the loop was MAX_PENDING behind
        self._pending = 0
        self._lock = threading.Lock()

    def __call__(self, payload: bytes, pts: int | None) -> None:
        """From the demux thread; never raises, never blocks."""
        self.packets += 1
        samples, causes = decode_payload(payload, time.time())
        with self._lock:
            if self._pending >= MAX_PENDING:
                self.dropped += 1
                return
            self._pending += 1
        try:
            self.loop.call_soon_threadsafe(self._deliver, samples, causes)
        except RuntimeError:  # the loop closed while the stream was stopping
            with self._lock:
                self._pending -= 1

    def _deliver(self, samples: list[Telemetry], causes: list[str]) -> None:
        with self._lock:
            self._pending -= 1
        for cause in causes:
            self.sink.bad(cause)
        for sample in samples:
            self.sink.publish(sample)
