"""Lazy rungs in a running relay: a rung encodes only while somebody watches it (and for
rung_idle_s after), a viewer joining an idle rung gets pictures, recording needs no rung."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from pathlib import Path

from relay.stream import Stream
from relay.threads import CODEC_NICE, nice_by_thread, set_codec_nice
from relay.transcode import encoder as encoder_module
from tests.conftest import RelayFactory, free_port, wait_for
from tests.recording.api import call, decode_counters, sections, verify_cli

# A 4 s source GOP, as the cold-start goal has it: a join must not wait for the next IDR.
SIM = {
    "name": "demo",
    "source": "sim://?size=640x360&fps=30&gop=120",
    "renditions": ["360p", "240p"],
    "rung_idle_s": 1.0,
}


def running(stream: Stream) -> dict[str, bool]:
    return {e.rung.name: e.running for e in stream.encoders}


async def test_a_rung_starts_with_its_first_viewer_and_stops_after_the_idle_time(
    start_relay: RelayFactory,
) -> None:
    before = encoder_module.ENCODERS_CREATED
    relay = await start_relay([SIM])
    stream = relay.relay.streams["demo"]
    transcoder = stream.transcoder
    assert transcoder is not None
    await wait_for(lambda: stream.state == "live", 20, "the sim drone")
    await asyncio.sleep(1.0)
    # Nobody watches: nothing decoded, no encoder made.
    assert transcoder.frames_decoded == 0 and not transcoder.decoding
    assert encoder_module.ENCODERS_CREATED == before
    status = await relay.stream_status("demo")
    assert status["encoders"] == 0 and status["decoding"] is False
    assert (status["width"], status["height"]) == (0, 0)  # unknown: nothing decoded yet
    assert status["rungs"] == {
        "360p": {"running": False, "viewers": 0},
        "240p": {"running": False, "viewers": 0},
    }
    viewer = relay.viewer("demo", rendition="360p")
    await viewer.start()
    try:
        await viewer.wait_frames(10, timeout=20)
        assert running(stream) == {"360p": True, "240p": False}
        assert encoder_module.ENCODERS_CREATED - before == 1
        status = await relay.stream_status("demo")
        assert status["rungs"]["360p"] == {"running": True, "viewers": 1}
        assert (status["width"], status["height"]) == (640, 360)
        assert status["rungs"]["240p"]["running"] is False
        async with relay.http() as http:
            async with http.get(relay.base_url + "/metrics") as resp:
                text = await resp.text()
        assert 'relay_encoder_running{rendition="360p",stream="demo"} 1.0' in text
        assert 'relay_encoder_running{rendition="240p",stream="demo"} 0.0' in text
    finally:
        # Before the close: the relay may see the viewer leave while close() still runs.
        left = time.monotonic()
        await viewer.close()
    await asyncio.sleep(0.5)
    assert stream.encoders[0].running, "stopped before its idle time"
    await wait_for(lambda: not stream.encoders[0].running, 10, "the idle rung to stop")
    assert time.monotonic() - left >= 1.0
    await wait_for(lambda: not transcoder.decoding, 5, "decoding to stop")
    decoded = transcoder.frames_decoded
    await asyncio.sleep(0.5)
    assert transcoder.frames_decoded == decoded, "decoding goes on with no rung running"
    # The next viewer of the idle rung: a fresh encoder, whose first frame is an IDR.
    again = relay.viewer("demo", rendition="360p")
    await again.start()
    try:
        await again.wait_frames(10, timeout=20)
        assert encoder_module.ENCODERS_CREATED - before == 2
        assert transcoder.cold_starts == 2
        assert again.received.sizes[0] == (640, 360)
        # Real pictures, not a slate: live ones, and the still a cold start may show first.
        assert len(again.received.counters) + len(again.received.stills) >= 9
    finally:
        await again.close()


async def test_an_auto_viewer_starts_only_the_rungs_it_moves_to(
    start_relay: RelayFactory,
) -> None:
    sim = "sim://?size=1280x720&fps=30&gop=120"
    relay = await start_relay([{**SIM, "source": sim, "renditions": ["720p", "360p"]}])
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 20, "the sim drone")
    viewer = relay.viewer("demo")  # auto: starts on 360p (nothing known of its link)
    await viewer.start()
    try:
        await viewer.wait_frames(10, timeout=20)
        assert running(stream)["360p"]
        session = next(iter(relay.relay.sessions.sessions.values()))
        # What the adapter does when the estimate carries 720p: a switching subscriber.
        session.track.switch_to(stream.renditions["720p"])
        await wait_for(lambda: running(stream)["720p"], 10, "720p to start for the move")
        await wait_for(lambda: (1280, 720) in viewer.received.sizes, 20, "720p pictures")
    finally:
        await viewer.close()


async def test_recording_with_every_rung_idle(start_relay: RelayFactory, tmp_path: Path) -> None:
    before = encoder_module.ENCODERS_CREATED
    relay = await start_relay(
        [{**SIM, "source": "sim://?size=640x360&fps=30&gop=30"}], **sections(tmp_path)
    )
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 20, "the sim drone")
    status, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "Niemand schaut", "streams": ["demo"]}
    )
    assert status == 201, body
    recorder = relay.relay.incidents.get(body["id"]).recorders["demo"]
    await wait_for(lambda: recorder.written >= 120, 30, "4 s recorded")
    status, snap = await call(
        relay.base_url, "POST", f"/api/incidents/{body['id']}/snapshots", {"stream": "demo"}
    )
    assert status == 201, snap
    status, _ = await call(relay.base_url, "POST", f"/api/incidents/{body['id']}/stop")
    assert status == 200
    # Nothing was transcoded for it: the recording keeps the drone's own bitstream.
    assert stream.transcoder is not None and stream.transcoder.frames_decoded == 0
    assert encoder_module.ENCODERS_CREATED == before
    _, detail = await call(relay.base_url, "GET", f"/api/incidents/{body['id']}")
    segments = detail["recordings"][0]["segments"]
    folder = tmp_path / "rec" / body["id"]
    counters: list[int] = []
    for seg in segments:
        data = (folder / seg["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == seg["sha256"]
        counters += decode_counters(folder / seg["file"])
    assert len(counters) == recorder.written >= 120
    assert counters == list(range(counters[0], counters[0] + len(counters)))
    assert (snap["width"], snap["height"]) == (640, 360)
    result = verify_cli(folder)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_the_overview_shows_which_rungs_run(start_relay: RelayFactory) -> None:
    from tests.e2e.browser import chromium, until

    relay = await start_relay([SIM])
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 20, "the sim drone")
    script = "() => document.querySelector('a.card .metric-wide dd')?.textContent ?? ''"
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        text = await until(page, script, lambda v: "ruht" in str(v), 10, "the rungs idle")
        assert text == "360p ◦ ruht · 240p ◦ ruht", text
        viewer = relay.viewer("demo", rendition="360p")
        await viewer.start()
        try:
            await viewer.wait_frames(5, timeout=20)
            text = await until(page, script, lambda v: "läuft" in str(v), 10, "360p running")
            assert text == "360p ▶ läuft · 240p ◦ ruht", text
        finally:
            await viewer.close()


async def test_a_viewer_who_joins_while_the_drone_is_lost_gets_the_slate(
    start_relay: RelayFactory,
) -> None:
    port = free_port(socket.SOCK_DGRAM)  # nobody pushes: the drone is lost
    lost = {"name": "lost", "source": f"udp://127.0.0.1:{port}", "renditions": ["360p"]}
    relay = await start_relay([lost])
    stream = relay.relay.streams["lost"]
    assert stream.transcoder is not None
    await asyncio.sleep(1.5)  # the signal counts as lost after 1 s
    assert stream.transcoder.slate_frames == 0, "a slate nobody watches is not drawn"
    viewer = relay.viewer("lost", rendition="360p")
    await viewer.start()
    try:
        await viewer.wait_frames(10, timeout=20)
        assert viewer.received.unmarked >= 10  # the slate carries no frame marks
        assert viewer.received.sizes[0] == (640, 360)
    finally:
        await viewer.close()


async def test_the_relay_runs_its_codecs_as_nice_as_its_config_says(
    start_relay: RelayFactory,
) -> None:
    try:
        relay = await start_relay([{**SIM, "name": "nc"}], server={"codec_nice": 2})
        viewer = relay.viewer("nc", rendition="360p")
        await viewer.start()
        try:
            await viewer.wait_frames(3, timeout=20)
            base = os.getpriority(os.PRIO_PROCESS, os.getpid())
            nice = nice_by_thread()
        finally:
            await viewer.close()
    finally:
        set_codec_nice(CODEC_NICE)  # the setting is the process's: later tests get the default
    # A stream name of its own: other tests' relays may still be ending their threads.
    assert nice["enc-360p-nc"] == {base + 2}, nice  # its x264 too: one thread at 360p
    assert nice["dec-nc"] == {base + 2}, nice
    assert nice["src-nc"] == {base}, nice  # the source's reader is no codec
