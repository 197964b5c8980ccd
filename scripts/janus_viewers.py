"""Viewers of a Janus streaming mountpoint for scripts/bench_janus.py, run in worker
processes: "counting" viewers are full ICE + DTLS peers of Janus (through its HTTP API:
session, attach, "watch", Janus's offer, our answer with "start") that count RTP packets,
bytes and frames from the clear RTP header (SRTP leaves it unencrypted) without decrypting
or decoding; "sample" viewers are full aiortc peers that decode and read the sim's frame
marks (counter, delay). Janus cannot tell them apart: it encrypts and sends the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from relay.media.frame_marks import read_marks  # noqa: E402  (after the path is set)
from relay.webrtc.ice import configure_host_addresses, rtc_configuration  # noqa: E402
from scripts.fanout_viewers import COUNTERS, count_rtp_at_the_socket  # noqa: E402
from scripts.janus_process import MOUNTPOINT, JanusWatcher  # noqa: E402

log = logging.getLogger(__name__)


class JanusViewer:
    """One viewer of the mountpoint; counts what arrives in the measurement window."""

    def __init__(self, url: str, decode: bool) -> None:
        self.pc = RTCPeerConnection(rtc_configuration(()))
        self.watcher = JanusWatcher(url, self.pc)
        self.decode = decode
        self.packets = self.bytes = self.frames = self.lost = 0
        self.window: Sequence[float] = (0.0, 0.0)  # [start, end], set by the benchmark
        self.marks: list[tuple[int, float]] = []  # (counter, delay ms) of decoded frames
        self.joined_at = 0.0
        self.first_packet_s: float | None = None
        self._expected_seq: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        if decode:
            self.pc.on("track", self._on_track)

    def _on_track(self, track: Any) -> None:
        self._tasks.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                now = time.monotonic()
                if self.first_packet_s is None:
                    self.first_packet_s = now - self.joined_at
                if self.window[0] <= now < self.window[1]:
                    read = read_marks(frame.to_ndarray(format="gray"))
                    self.frames += 1
                    if read is not None:
                        self.marks.append((read[0], time.time() * 1000 - read[1]))

    def _count(self, data: bytes) -> None:
        """An RTP datagram from Janus, counted at the socket (never decrypted)."""
        now = time.monotonic()
        if self.first_packet_s is None:
            self.first_packet_s = now - self.joined_at
        if not self.window[0] <= now < self.window[1]:
            return
        self.packets += 1
        self.bytes += len(data)
        seq = int.from_bytes(data[2:4], "big")
        if self._expected_seq is not None and seq != self._expected_seq:
            gap = (seq - self._expected_seq) & 0xFFFF
            if gap < 1000:  # not a reordering
                self.lost += gap
        self._expected_seq = (seq + 1) & 0xFFFF
        if data[1] & 0x80:  # marker: a frame's last packet
            self.frames += 1

    async def join(self) -> None:
        self.joined_at = time.monotonic()
        await self.watcher.watch(MOUNTPOINT, wait_s=60)
        if not self.decode:
            transport = self.pc.getTransceivers()[0].receiver.transport.transport
            COUNTERS[id(transport._connection)] = self
        self._tasks.append(asyncio.ensure_future(self.watcher.keepalive()))

    def report(self) -> dict[str, Any]:
        seconds = self.window[1] - self.window[0]
        counters = [c for c, _ in self.marks]
        delays = sorted(d for _, d in self.marks)
        return {
            "kind": "sample" if self.decode else "count",
            "connected": self.pc.connectionState == "connected",
            "first_packet_s": self.first_packet_s,
            "fps": self.frames / seconds,
            "frames": self.frames,
            "packets": self.packets,
            "bytes": self.bytes,
            "lost_packets": self.lost,
            "marks": len(counters),
            "marks_in_order": counters == sorted(counters),
            "counter_advance": counters[-1] - counters[0] if counters else 0,
            "delay_ms_p50": delays[len(delays) // 2] if delays else None,
        }

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()
        with contextlib.suppress(Exception):
            await self.watcher.leave()


async def run_viewers(
    url: str, decode: bool, join_at: list[float], window: Sequence[float], ready: Any
) -> list[dict[str, Any]]:
    viewers = [JanusViewer(url, decode) for _ in join_at]
    joins = []
    for viewer, at in zip(viewers, join_at, strict=True):
        viewer.window = window
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        joins.append(asyncio.ensure_future(viewer.join()))
    results = await asyncio.gather(*joins, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            log.error("a viewer did not join: %r", result)
    ready.put(sum(1 for r in results if not isinstance(r, BaseException)))
    # Held past the window so the benchmark can ask Janus how many viewers it has.
    for _ in range(4500):  # 900 s at most: a benchmark that died never sets the window
        if time.monotonic() > window[1] + 1.5:
            break
        await asyncio.sleep(0.2)
    reports = [v.report() for v in viewers]
    await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
    return reports


def worker(
    kind: str,
    url: str,
    join_at: list[float],
    window: Sequence[float],
    out: Any,
    ready: Any,
    nice: int,
) -> None:
    """A process of viewers of one kind ("count" or "sample"); puts their reports on `out`.
    `nice`: they stand for other machines, so the relay under test may go first."""
    os.nice(nice)
    logging.basicConfig(level=logging.ERROR)
    if kind == "count":
        count_rtp_at_the_socket()
    # Janus (libnice) offers no loopback candidates: these peers offer the machine's other
    # addresses (as tests/e2e/test_output_janus.py's viewer does).
    configure_host_addresses(())
    out.put(asyncio.run(run_viewers(url, kind == "sample", join_at, window, ready)))
