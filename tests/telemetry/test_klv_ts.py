"""KLV in the stream's own MPEG-TS: a pusher sends H.264 with a KLV data PID over UDP; the
relay's UdpTsSource hands the KLV to KlvFeed while its video keeps flowing."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av.error
import pytest

from relay.errors import SourceError
from relay.media.access_unit import AccessUnit
from relay.sources.demux import FileSource, UdpTsSource
from relay.telemetry.model import Telemetry
from relay.telemetry.ts_data import MAX_PENDING, KlvFeed
from scripts.klv_make import circle, make_packet, push_ts
from tests.conftest import RelayFactory, free_port, wait_for
from tests.telemetry.ts_sync import sync_klv_ts
from tests.telemetry.viewer_sse import viewer_auth, viewer_event
from tests.test_fake_drone import SCRIPT
from tests.udp_bind import wait_until_bound

EPOCH_US = 1_764_500_000_000_000


class Collect:
    """A Sink that keeps what it gets (and checks it is called on the loop's thread)."""

    def __init__(self) -> None:
        self.samples: list[Telemetry] = []
        self.causes: list[str] = []
        self.thread = threading.get_ident()

    def publish(self, sample: Telemetry) -> None:
        assert threading.get_ident() == self.thread
        self.samples.append(sample)

    def bad(self, cause: str) -> None:
        assert threading.get_ident() == self.thread
        self.causes.append(cause)


def _klv(i: int) -> bytes | None:
    """Every third frame (10 Hz): the circle at t = i/30 s; frame 45's checksum broken."""
    if i % 3:
        return None
    return make_packet(circle(i / 30), time_us=EPOCH_US + i * 1_000_000 // 30, bad_checksum=i == 45)


def _push_with_klv_make(url: str, seconds: float) -> int:
    return push_ts(url, seconds, _klv)


def _push_with_fake_drone(url: str, seconds: float) -> int:
    args = [sys.executable, str(SCRIPT), url, "--klv", "--size", "320x240", "--gop", "15"]
    done = subprocess.run([*args, "--seconds", str(seconds)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return -1


async def _run_source(
    on_data: KlvFeed | None, seconds: float, push: Callable[[str, float], int] = _push_with_klv_make
) -> tuple[list[AccessUnit], int]:
    port = free_port(socket.SOCK_DGRAM)
    source = UdpTsSource(f"udp://127.0.0.1:{port}")
    source.on_data = on_data
    units: list[AccessUnit] = []
    stop = threading.Event()

    def read() -> None:
        try:
            source.run(units.append, stop)
        except (SourceError, av.error.FFmpegError):
            pass  # the read timeout after the pusher stopped: the normal end

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    await asyncio.to_thread(wait_until_bound, port, holder=reader)
    sent = await asyncio.to_thread(push, f"udp://127.0.0.1:{port}", seconds)
    await wait_for(lambda: not reader.is_alive(), 10, "the source to end after the push")
    stop.set()
    return units, sent


@pytest.mark.asyncio
async def test_klv_from_the_ts_reaches_the_sink_and_video_flows() -> None:
    sink = Collect()
    feed = KlvFeed(sink, asyncio.get_running_loop())
    units, sent = await _run_source(feed, 3.0)
    await wait_for(lambda: len(sink.samples) + len(sink.causes) >= feed.packets, 2, "hand-over")

    assert sent == 30
    assert len(units) >= 80, f"only {len(units)} of 90 video frames"  # video undisturbed
    # The first packets may be lost while the receiver probes; most must arrive.
    assert feed.packets >= 25 and feed.dropped == 0
    assert sink.causes == ["klv checksum mismatch"]  # frame 45's, and nothing else
    assert len(sink.samples) == feed.packets - 1
    for sample in sink.samples:
        i = round((sample.time * 1e6 - EPOCH_US) * 30 / 1e6)  # the frame it was sent with
        want = circle(i / 30)
        assert sample.source == "klv"
        assert sample.lat == pytest.approx(want[13], abs=1e-7)
        assert sample.lon == pytest.approx(want[14], abs=1e-7)
        assert sample.alt_msl_m == pytest.approx(120.0, abs=0.2)
        assert sample.heading_deg == pytest.approx(want[5], abs=0.01)
        assert sample.target_lat == pytest.approx(48.137, abs=1e-7)


@pytest.mark.asyncio
async def test_without_a_hook_the_klv_pid_is_ignored() -> None:
    units, _ = await _run_source(None, 2.0)
    assert len(units) >= 50  # the video as before, no data packet in the emit path


@pytest.mark.asyncio
async def test_fake_drone_flies_a_circle_in_klv() -> None:
    sink = Collect()
    feed = KlvFeed(sink, asyncio.get_running_loop())
    units, _ = await _run_source(feed, 3.0, _push_with_fake_drone)
    await wait_for(lambda: len(sink.samples) + len(sink.causes) >= feed.packets, 2, "hand-over")

    assert len(units) >= 80 and sink.causes == []
    assert len(sink.samples) >= 25, f"only {len(sink.samples)} of 30 samples (10 Hz, 3 s)"
    for sample in sink.samples:
        assert sample.lat is not None and sample.lon is not None
        north = (sample.lat - 48.137) * 111_320
        east = (sample.lon - 11.575) * 111_320 * math.cos(math.radians(48.137))
        assert math.hypot(north, east) == pytest.approx(200, abs=1)  # on the 200 m circle
        assert sample.alt_msl_m == pytest.approx(120, abs=0.2)
        assert abs(sample.time - time.time()) < 30  # stamped with the wall clock
    headings = [s.heading_deg or 0.0 for s in sorted(sink.samples, key=lambda s: s.time)]
    assert headings == sorted(headings) and headings[-1] - headings[0] > 10  # it turns: 6 deg/s


@pytest.mark.asyncio
async def test_a_loop_that_falls_behind_loses_the_newest_counted() -> None:
    sink = Collect()
    feed = KlvFeed(sink, asyncio.get_running_loop())
    packet = make_packet(circle(1.0), time_us=EPOCH_US)
    for _ in range(MAX_PENDING + 6):  # the loop runs none of the hand-overs meanwhile
        feed(packet, 0)
    assert feed.dropped == 6
    await wait_for(lambda: len(sink.samples) == MAX_PENDING, 2, "the queued hand-overs")
    feed(packet, 0)  # room again
    await wait_for(lambda: len(sink.samples) == MAX_PENDING + 1, 2, "the next hand-over")


@pytest.mark.asyncio
async def test_synchronous_klv_stream_type_0x15(tmp_path: Path) -> None:
    """0x15 metadata with the KLVA metadata descriptor and 5-byte AU cell headers: FFmpeg
    names the stream "klv" as well; every packet arrives, its values intact."""
    await asyncio.to_thread(push_ts, str(tmp_path / "v.ts"), 2.0, lambda i: None)
    klv = [make_packet(circle(i / 10), time_us=EPOCH_US + i * 100_000) for i in range(20)]
    clip = tmp_path / "sync.ts"
    clip.write_bytes(sync_klv_ts((tmp_path / "v.ts").read_bytes(), klv, 126_000, 9_000))
    assert b"\x15\xe1\x01" in clip.read_bytes()[:376]  # the PMT's entry: type 0x15, PID 0x101
    sink = Collect()
    feed = KlvFeed(sink, asyncio.get_running_loop())
    source = FileSource(f"file:{clip}")
    source.on_data = feed
    units: list[AccessUnit] = []
    await asyncio.to_thread(source.run, units.append, threading.Event())
    await wait_for(lambda: len(sink.samples) + len(sink.causes) >= 20, 2, "hand-over")

    assert len(units) == 60 and sink.causes == []
    assert [round(s.time * 1e6 - EPOCH_US) // 100_000 for s in sink.samples] == list(range(20))
    for i, sample in enumerate(sink.samples):
        assert sample.lat == pytest.approx(circle(i / 10)[13], abs=1e-7)


async def test_a_stream_with_klv_telemetry_shows_the_drone_at_the_api(
    start_relay: RelayFactory,
) -> None:
    """telemetry = "klv" on a udp:// stream: the fake drone's MPEG-TS carries MISB ST 0601
    next to its video; GET /api/streams/{name} shows the position it flies."""
    port = free_port(socket.SOCK_DGRAM)
    relay = await start_relay(
        [
            {
                "name": "uas",
                "source": f"udp://127.0.0.1:{port}",
                "renditions": ["360p"],
                "telemetry": "klv",
            }
        ],
        auth=viewer_auth("uas"),
    )
    url = f"udp://127.0.0.1:{port}"
    pusher = asyncio.ensure_future(asyncio.to_thread(_push_with_fake_drone, url, 8.0))
    try:
        telemetry: dict[str, Any] | None = None
        deadline = asyncio.get_running_loop().time() + 20
        while telemetry is None or telemetry.get("lat") is None:
            assert asyncio.get_running_loop().time() < deadline, "no KLV telemetry at the API"
            await asyncio.sleep(0.2)
            telemetry = (await relay.stream_status("uas"))["telemetry"]
        assert telemetry["source"] == "klv" and telemetry["heading_deg"] is not None, telemetry
        # At a viewer (not an admin), in the event stream the player reads: the drone's
        # position on the fake drone's circle, its heading and altitude.
        seen = await viewer_event(relay, "uas", lambda e: e.get("source") == "klv")
        for key in ("lat", "lon", "heading_deg", "alt_msl_m"):
            assert seen.get(key) is not None, (key, seen)
        assert seen["lat"] == pytest.approx(telemetry["lat"], abs=0.01), seen
    finally:
        await pusher
