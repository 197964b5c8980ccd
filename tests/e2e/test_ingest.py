"""Ingest end to end: a drone pushes RTMP or MPEG-TS/UDP, or a clip loops from a file;
an aiortc viewer decodes live frames. The pusher is scripts/fake_drone.py, a separate
process using PyAV, as the drone's controller would be."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RelayFactory, free_port, wait_for
from tests.media_gen import make_clip
from tests.rtsp_server import rtsp_server

ROOT = Path(__file__).resolve().parents[2]


def push(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "fake_drone.py"),
            url,
            "--size",
            "640x360",
            "--fps",
            "30",
            "--gop",
            "30",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


async def push_until_live(
    url: str,
    relay_stream_live,
    *args: str,  # type: ignore[no-untyped-def]
) -> subprocess.Popen[bytes]:
    """Starts the pusher, restarting it while the listener is not yet up (connection refused),
    as a drone controller's own retry would."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        proc = push(url, *args)
        while proc.poll() is None and time.monotonic() < deadline:
            if relay_stream_live():
                return proc
            await asyncio.sleep(0.05)
        stop(proc)
        await asyncio.sleep(0.3)
    raise AssertionError(f"{url}: stream never went live")


def assert_live_frames(counters: list[int], minimum: int) -> None:
    steps = list(zip(counters, counters[1:], strict=False))
    assert len(counters) >= minimum, f"only {len(counters)} marked frames"
    assert all(b != a for a, b in steps), "a frame was repeated"
    assert sum(b > a for a, b in steps) >= len(steps) - 1, "counter does not advance"


@pytest.mark.parametrize("scheme", ["rtmp", "udp"])
async def test_push_high_profile_bframes(start_relay: RelayFactory, scheme: str) -> None:
    if scheme == "rtmp":
        port = free_port()
        listen = push_to = f"rtmp://127.0.0.1:{port}/live/fritz"
    else:
        port = free_port(socket.SOCK_DGRAM)
        listen = push_to = f"udp://127.0.0.1:{port}"
    relay = await start_relay([{"name": "fritz", "source": listen, "renditions": ["720p"]}])
    stream = relay.relay.streams["fritz"]
    assert stream.state == "offline"  # a listener waiting for its drone
    pusher = await push_until_live(push_to, lambda: stream.state == "live", "--high-bframes")
    viewer = relay.viewer("fritz")
    try:
        await viewer.start()
        await viewer.wait_frames(100, timeout=30)
        assert set(viewer.received.sizes) == {(640, 360)}  # 720p rung never upscales
        assert_live_frames(viewer.received.counters, 90)
        status = await relay.stream_status("fritz")
        assert status["state"] == "live" and status["fps_in"] > 20
        assert status["transcoder"]["decode_errors"] == 0
    finally:
        await viewer.close()
        stop(pusher)


async def test_file_clip_loops_at_real_time(start_relay: RelayFactory, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "flight.mp4", seconds=2.0, high_bframes=True)
    relay = await start_relay([{"name": "clip", "source": f"file:{clip}", "renditions": ["360p"]}])
    viewer = relay.viewer("clip")
    await viewer.start()
    try:
        started = time.monotonic()
        await viewer.wait_frames(95, timeout=20)
        elapsed = time.monotonic() - started
        counters = viewer.received.counters
        assert len(counters) >= 90
        # The 60-frame clip loops: the counter runs up, wraps to 0 at most twice, never repeats.
        steps = list(zip(counters, counters[1:], strict=False))
        assert sum(b < a for a, b in steps) <= 2
        assert all(b != a for a, b in steps)
        assert elapsed > 2.0, "a file must play at real-time pace, not as fast as it decodes"
    finally:
        await viewer.close()


async def test_pusher_dies_viewer_gets_slate_then_live_again(start_relay: RelayFactory) -> None:
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/fritz"
    relay = await start_relay([{"name": "fritz", "source": url, "renditions": ["360p"]}])
    stream = relay.relay.streams["fritz"]
    pusher = await push_until_live(url, lambda: stream.state == "live")
    viewer = relay.viewer("fritz")
    try:
        await viewer.start()
        await viewer.wait_frames(30)
        pusher.kill()  # the LTE link drops: no clean end of stream
        pusher.wait()
        r = viewer.received
        await wait_for(lambda: r.unmarked >= 15, 10, "slate frames after the pusher died")
        await wait_for(lambda: stream.state == "connecting", 5, "state connecting")
        assert (await relay.stream_status("fritz"))["state"] == "connecting"
        assert viewer.pc.connectionState == "connected"
        assert relay.relay.sessions.count() == 1
        marked_before = len(r.counters)
        back = time.monotonic()
        pusher = await push_until_live(url, lambda: stream.state == "live")
        await wait_for(lambda: len(r.counters) > marked_before + 5, 10, "live frames again")
        recovery = time.monotonic() - back
        assert recovery <= 3.0, f"live again only after {recovery:.2f} s"
        print(f"live again {recovery:.2f} s after the pusher came back")
    finally:
        await viewer.close()
        stop(pusher)


async def test_rtsp_pull(start_relay: RelayFactory, tmp_path: Path) -> None:
    """The relay pulls RTSP from a server (as from a DJI controller's RTSP service);
    here Debian's rtsp-server-perl, fed by ffmpeg pushing a High-profile clip."""
    clip = make_clip(tmp_path / "flight.mp4", seconds=4.0, high_bframes=True)
    async with rtsp_server() as server:
        feeder = subprocess.Popen(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                str(clip),
                "-c",
                "copy",
                "-f",
                "rtsp",
                "-rtsp_transport",
                "udp",
                f"rtsp://127.0.0.1:{server.source_port}/live",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"rtsp://127.0.0.1:{server.client_port}/live?transport=udp"
            relay = await start_relay([{"name": "rtsp", "source": url, "renditions": ["360p"]}])
            stream = relay.relay.streams["rtsp"]
            await wait_for(lambda: stream.state == "live", 20, "the RTSP pull to go live")
            viewer = relay.viewer("rtsp")
            await viewer.start()
            try:
                try:
                    await viewer.wait_frames(95, timeout=20)
                except AssertionError:
                    raise AssertionError(str(await relay.stream_status("rtsp"))) from None
                counters = viewer.received.counters
                steps = list(zip(counters, counters[1:], strict=False))
                assert len(counters) >= 90
                assert sum(b < a for a, b in steps) <= 1  # the 4 s clip loops at most once
                assert all(b != a for a, b in steps)
            finally:
                await viewer.close()
        finally:
            feeder.kill()
            feeder.wait()


async def test_garbage_input_never_takes_down_another_stream(start_relay: RelayFactory) -> None:
    """A broken or hostile sender on one stream: that stream keeps retrying, the other one
    plays on untouched."""
    udp_port, rtmp_port = free_port(socket.SOCK_DGRAM), free_port()
    relay = await start_relay(
        [
            {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=30", "renditions": ["360p"]},
            {"name": "junk", "source": f"udp://127.0.0.1:{udp_port}", "renditions": ["360p"]},
            {
                "name": "junk2",
                "source": f"rtmp://127.0.0.1:{rtmp_port}/live/x",
                "renditions": ["360p"],
            },
        ]
    )
    viewer = relay.viewer("demo")
    await viewer.start()
    try:
        await viewer.wait_frames(10)
        before = viewer.received.frames
        payloads = [bytes(range(256)) * 5, b"\x47" + b"\xff" * 187, b"\x00\x00\x00\x01\x65" * 300]
        deadline = time.monotonic() + 3
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            while time.monotonic() < deadline:  # 3 s of junk datagrams, then junk over TCP
                for p in payloads:
                    udp.sendto(p, ("127.0.0.1", udp_port))
                await asyncio.sleep(0.005)
        for _ in range(3):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", rtmp_port)
            except OSError:
                await asyncio.sleep(0.3)  # the listener re-arms between attempts
                continue
            writer.write(b"\x03" + bytes(1536) + b"GET / HTTP/1.1\r\n\r\n" * 50)
            await writer.drain()
            writer.close()
        await viewer.wait_frames(before + 90, timeout=10)  # demo never stopped
        streams = {s["name"]: s for s in (await relay.get_json("/api/streams"))["streams"]}
        assert streams["demo"]["state"] == "live"
        assert streams["junk"]["state"] != "live" and streams["junk2"]["state"] != "live"
        assert_live_frames(viewer.received.counters[-90:], 85)
    finally:
        await viewer.close()
