"""The benchmarks' WHEP viewers, run in worker processes (scripts/bench_fanout.py,
scripts/bench_looplag.py): "counting" viewers are full ICE + DTLS peers that count RTP
packets and frames from the clear RTP header (SRTP leaves it unencrypted) without decrypting
or decoding; "sample" viewers are full aiortc peers that decode and read the frame marks
(delay). The relay cannot tell them apart: it encrypts and sends the same for both.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.whep_client import WhepViewer  # noqa: E402  (after the path is set)


class RtpCounter(Protocol):
    """A viewer that counts the RTP datagrams of its connection (here and in
    scripts/janus_viewers.py)."""

    def _count(self, data: bytes) -> None: ...


COUNTERS: dict[int, RtpCounter] = {}  # aioice Connection id -> its counting viewer


def count_rtp_at_the_socket() -> None:
    """In a counting worker: RTP datagrams are counted where they arrive, before aioice
    tries them as STUN and queues them (that alone cost more than the relay's sending)."""
    import aioice.ice

    original = aioice.ice.StunProtocol.datagram_received

    def datagram_received(self: Any, data: bytes, addr: Any) -> None:
        if len(data) > 12 and 128 <= data[0] < 192 and not 192 <= data[1] <= 223:
            viewer = COUNTERS.get(id(self.receiver))
            if viewer is not None:
                viewer._count(data)  # RTP: counted here, never decrypted
                return
        original(self, data, addr)

    aioice.ice.StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]


class CountingViewer(WhepViewer):
    """A full WebRTC peer that counts frames from clear RTP headers (no decrypt, no decode)."""

    def __init__(
        self, base_url: str, token: str, stream: str = "demo", rendition: str = "720p"
    ) -> None:
        super().__init__(base_url, stream, rendition=rendition, token=token)
        self.frames: list[float] = []  # arrival (monotonic) of each frame's last packet
        self.lost_packets = 0
        self.damaged_frames: list[float] = []
        self.first_frame_s: float | None = None
        self._expected_seq: int | None = None
        self._damaged = False

    async def prepare(self) -> None:
        await super().prepare()
        connection = self.pc.getTransceivers()[0].receiver.transport.transport._connection
        COUNTERS[id(connection)] = self

    def _count(self, data: bytes) -> None:
        seq = int.from_bytes(data[2:4], "big")
        if self._expected_seq is not None and seq != self._expected_seq:
            gap = (seq - self._expected_seq) & 0xFFFF
            if gap < 1000:  # not a reordering
                self.lost_packets += gap
                self._damaged = True
        self._expected_seq = (seq + 1) & 0xFFFF
        if data[1] & 0x80:  # marker: the frame's last packet
            now = time.monotonic()
            if self.first_frame_s is None:
                self.first_frame_s = now - self.received.started
            self.frames.append(now)
            if self._damaged:
                self.damaged_frames.append(now)
            self._damaged = False

    def report(self, start: float, end: float) -> dict[str, Any]:
        frames = [t for t in self.frames if start <= t < end]
        return {
            "fps": len(frames) / (end - start),
            "frames": len(frames),
            "lost_frames": len([t for t in self.damaged_frames if start <= t < end]),
            "first_frame_s": self.first_frame_s,
            "delays_ms": [],
        }


def max_by_second(
    window: list[tuple[float, int | None, float | None]], start: float, end: float
) -> list[float | None]:
    """The largest delay in each whole second of the window ((time, counter, delay) from
    `start` on): whether a missed p95 is a steady excess or episodes, and whether those hit
    every stream at once (the box) or one."""
    worst: list[float | None] = [None] * max(1, int(end - start))
    for t, _, delay in window:
        second = int(t - start)
        if delay is not None and second < len(worst):
            worst[second] = max(delay, worst[second] or 0.0)
    return [None if d is None else round(d) for d in worst]


class SampleViewer:
    """A full aiortc viewer that decodes and reads the frame marks (for delay)."""

    def __init__(
        self, base_url: str, token: str, stream: str = "demo", rendition: str = "720p"
    ) -> None:
        self.viewer = WhepViewer(base_url, stream, rendition=rendition, token=token)

    async def prepare(self) -> None:
        await self.viewer.prepare()

    async def post(self) -> None:
        await self.viewer.post()

    def report(self, start: float, end: float) -> dict[str, Any]:
        r = self.viewer.received
        window = [(t, c, d) for t, c, d in r.timeline if start <= t < end]
        counters = [c for _, c, _ in window if c is not None]
        # Frames lost: gaps in the burned-in counter (the source counts every frame).
        lost = sum(max(0, b - a - 1) for a, b in zip(counters, counters[1:], strict=False))
        return {
            "fps": len(window) / (end - start),
            "frames": len(window),
            "lost_frames": lost,
            "first_frame_s": r.first_frame_s,
            "delays_ms": [d for _, _, d in window if d is not None],
            "delay_max_by_second": max_by_second(window, start, end),
        }

    async def close(self) -> None:
        await self.viewer.close()


async def run_viewers(
    kind: str,
    base_url: str,
    token: str,
    count: int,
    join_at: list[float],
    window: tuple[float, float],
    stream: str = "demo",
    rendition: str = "720p",
) -> list[dict[str, Any]]:
    viewer = SampleViewer if kind == "sample" else CountingViewer
    viewers = [viewer(base_url, token, stream, rendition) for _ in range(count)]
    for v in viewers:
        await v.prepare()
    posts = []
    for v, at in zip(viewers, join_at, strict=True):
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        posts.append(asyncio.ensure_future(v.post()))
    await asyncio.gather(*posts)
    await asyncio.sleep(max(0.0, window[1] - time.monotonic()) + 0.2)
    reports = [v.report(*window) for v in viewers]
    await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
    return reports


def worker(
    kind: str,
    base_url: str,
    token: str,
    count: int,
    join_at: list[float],
    window: tuple[float, float],
    out: Any,
    stream: str = "demo",
    rendition: str = "720p",
) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    if kind == "count":
        count_rtp_at_the_socket()
    reports = asyncio.run(
        run_viewers(kind, base_url, token, count, join_at, window, stream, rendition)
    )
    out.put([{**r, "stream": stream, "rendition": rendition, "kind": kind} for r in reports])
