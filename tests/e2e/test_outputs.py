"""Outputs: a stream's rung pushed to a real RTMP server (Debian's nginx with
libnginx-mod-rtmp), read back by a player (PyAV) that decodes the frames and reads the sim's
frame marks; the server killed and started again: the output reconnects by itself. The RTMP
key never appears in the status, the log or the audit."""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Iterator

import av
import pytest

from relay.media.frame_marks import read_marks
from relay.outputs.output import CONNECT_S
from tests.conftest import RelayFactory, RunningRelay, wait_for
from tests.nginx_rtmp import NginxRtmp, nginx_rtmp
from tests.rtsp_server import rtsp_server

KEY = f"outkey{secrets.token_hex(6)}"


@pytest.fixture
def server() -> Iterator[NginxRtmp]:
    with nginx_rtmp() as running:
        yield running


def play(url: str, frames: int, options: dict[str, str] | None = None) -> list[int]:
    """The frame marks' counters of `frames` pictures played from the server (blocking)."""
    counters: list[int] = []
    with av.open(url, options={"rw_timeout": "10000000", **(options or {})}) as container:
        for packet in container.demux(video=0):
            try:  # a player joining mid-stream may get the end of a frame first
                decoded = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in decoded:
                marks = read_marks(frame.to_ndarray(format="gray"))
                if marks is not None:
                    counters.append(marks[0])
            if len(counters) >= frames:
                break
    return counters[:frames]


async def output_status(relay: RunningRelay) -> dict[str, object]:
    status = await relay.stream_status("demo")
    outputs = status["outputs"]
    assert isinstance(outputs, list) and len(outputs) == 1
    return outputs[0]  # type: ignore[no-any-return]


async def test_an_rtmp_output_reaches_the_server_and_comes_back_after_it_restarts(
    start_relay: RelayFactory, server: NginxRtmp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = f"rtmp://127.0.0.1:{server.port}/live/{KEY}"
    sim = {
        "name": "demo",
        "source": "sim://?size=640x360&fps=30&gop=30",
        "renditions": ["360p"],
        "outputs": [{"url": url, "rendition": "360p"}],
    }
    relay = await start_relay([sim])
    status: dict[str, object] = {}

    async def live() -> bool:
        nonlocal status
        status = await output_status(relay)
        return status["state"] == "live"

    await wait_until(live, 20, "the output to go live")
    counters = await asyncio.to_thread(play, url, 30)
    assert len(counters) == 30 and counters == sorted(counters), counters
    assert counters[-1] - counters[0] >= 29, "the pictures move on, one per frame"
    assert status["url"] == f"rtmp://127.0.0.1:{server.port}/live/***", status
    async with relay.http() as http:
        async with http.get(f"{relay.base_url}/metrics") as resp:
            metrics = await resp.text()
    shown = f'output="rtmp://127.0.0.1:{server.port}/live/***"'
    assert f'relay_output_up{{{shown},stream="demo"}} 1.0' in metrics.replace(
        f'stream="demo",{shown}', f'{shown},stream="demo"'
    ), [line for line in metrics.splitlines() if "relay_output" in line]
    assert KEY not in metrics

    server.stop()  # the server goes away: the output notices, retries, says why
    await wait_until(
        lambda: _state(relay, "retrying"), 20, "the output to notice the server is gone"
    )
    server.start()
    await wait_until(live, 40, "the output to reconnect")
    assert int(status["reconnects"]) >= 1, status  # type: ignore[call-overload]
    counters = await asyncio.to_thread(play, url, 10)
    assert len(counters) == 10

    events = [e["event"] for e in relay.relay.audit.read() if e.get("stream") == "demo"]
    assert events.count("output_start") >= 2 and "output_stop" in events, events
    everything = str(relay.relay.audit.read()) + caplog.text + str(status)
    assert KEY not in everything


async def _state(relay: RunningRelay, state: str) -> bool:
    return (await output_status(relay))["state"] == state


async def wait_until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_a_server_that_never_answers_stalls_nothing(start_relay: RelayFactory) -> None:
    """A server that accepts the connection and then stays silent: FFmpeg's RTMP handshake
    would wait for it holding the GIL (in the relay's process it froze the event loop). The
    output's own process waits instead; the relay answers and its viewers play meanwhile,
    and the output gives up after CONNECT_S and tries again."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    sim = {
        "name": "demo",
        "source": "sim://?size=320x240&fps=15&gop=15",
        "renditions": ["360p"],
        "outputs": [{"url": f"rtmp://127.0.0.1:{port}/live/{KEY}"}],
    }
    try:
        relay = await start_relay([sim])
        viewer = relay.viewer("demo")
        await viewer.start()
        try:
            slowest = 0.0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + CONNECT_S + 8
            status = await output_status(relay)
            while status["state"] != "retrying" and loop.time() < deadline:
                asked = loop.time()
                status = await output_status(relay)
                slowest = max(slowest, loop.time() - asked)
                await asyncio.sleep(0.2)
            assert status["state"] == "retrying", status
            assert "not connected" in str(status["last_error"]), status
            assert slowest < 1.0, f"the API took {slowest:.2f} s to answer meanwhile"
            frames = viewer.received.frames
            await viewer.wait_frames(frames + 10, timeout=10)
        finally:
            await viewer.close()
    finally:
        silent.close()


async def test_an_rtsp_output_publishes_to_a_server_that_players_read(
    start_relay: RelayFactory,
) -> None:
    """RTSP publishing (ANNOUNCE/RECORD, as to MediaMTX-style servers), here to Debian's
    rtsp-server-perl, whose client port a player reads the frames back from."""
    async with rtsp_server() as server:
        sim = {
            "name": "demo",
            "source": "sim://?size=640x360&fps=30&gop=30",
            "renditions": ["360p"],
            "outputs": [{"url": f"rtsp://127.0.0.1:{server.source_port}/drone?transport=udp"}],
        }
        relay = await start_relay([sim])
        await wait_until(lambda: _state(relay, "live"), 20, "the RTSP output to go live")
        url = f"rtsp://127.0.0.1:{server.client_port}/drone"
        counters = await asyncio.to_thread(play, url, 30, {"rtsp_transport": "udp"})
        assert len(counters) == 30 and counters == sorted(counters), counters


async def test_a_whip_output_publishes_into_another_drone_relay(start_relay: RelayFactory) -> None:
    """WHIP out (FFmpeg's WHIP muxer in the output's process, with an ECDSA certificate of its
    own and the endpoint's Bearer token) into a second drone-relay's whip: stream, whose
    viewer decodes the first relay's frames. The token shows nowhere."""
    receiver = await start_relay([{"name": "cam", "source": "whip:", "renditions": ["360p"]}])
    sim = {
        "name": "demo",
        "source": "sim://?size=640x360&fps=30&gop=30",
        "renditions": ["360p"],
        "outputs": [
            {"url": f"whip+{receiver.base_url}/whip/cam", "token": receiver.token},
        ],
    }
    sender = await start_relay([sim])
    try:
        await wait_until(lambda: _state(sender, "live"), 30, "the WHIP output to go live")
    except AssertionError:
        raise AssertionError(str(await output_status(sender))) from None
    viewer = receiver.viewer("cam", rendition="360p")
    await viewer.start()
    try:
        # The receiver shows its slate until the publisher's pictures come: wait for marks.
        await wait_for(lambda: len(viewer.received.counters) >= 30, 20, "the sender's frames")
        counters = viewer.received.counters
        assert counters[-1] > counters[0], counters
    finally:
        await viewer.close()
    status = await output_status(sender)
    assert receiver.token not in str(status), status
    assert status["url"] == f"whip+{receiver.base_url}/whip/cam", status
