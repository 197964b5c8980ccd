"""The relay's RTP output feeding a Janus streaming mountpoint (Debian's janus, its streaming
plugin, an RTP mountpoint on free ports): a viewer of Janus (an aiortc peer through Janus's
HTTP API) decodes the relay's frames and reads the sim's frame marks: the counters advance
and the delay capture -> decoded through the relay and Janus is measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from relay.media.frame_marks import read_marks
from relay.webrtc.ice import configure_host_addresses, rtc_configuration
from tests.conftest import RelayFactory, wait_for
from tests.janus_server import MOUNTPOINT, Janus, JanusWatcher, janus


@pytest.fixture
def engine() -> Iterator[Janus]:
    with janus() as running:
        yield running


async def test_janus_serves_the_relays_rtp_output(start_relay: RelayFactory, engine: Janus) -> None:
    sim = {
        "name": "demo",
        "source": "sim://?size=640x360&fps=30&gop=30",
        "renditions": ["360p"],
        "outputs": [{"url": f"rtp://127.0.0.1:{engine.video_port}?pt=96", "rendition": "360p"}],
    }
    relay = await start_relay([sim])
    await wait_for(
        lambda: relay.relay.streams["demo"].outputs[0].state == "live", 20, "the RTP output"
    )
    pc = RTCPeerConnection(rtc_configuration(()))
    marks: list[tuple[int, float]] = []
    done = asyncio.Event()

    @pc.on("track")
    def on_track(track) -> None:  # type: ignore[no-untyped-def]
        async def consume() -> None:
            try:
                while len(marks) < 60:
                    frame = await track.recv()
                    read = read_marks(frame.to_ndarray(format="gray"))
                    if read is not None:
                        marks.append((read[0], time.time() * 1000 - read[1]))
            except MediaStreamError:
                pass
            done.set()

        asyncio.ensure_future(consume())

    try:
        # Janus (libnice) offers no loopback candidates: this peer offers the machine's
        # other addresses while it gathers (the relay's own peers keep 127.0.0.1).
        configure_host_addresses(())
        try:
            await JanusWatcher(engine.url, pc).watch(MOUNTPOINT)
        finally:
            configure_host_addresses(("127.0.0.1",))
        try:
            await asyncio.wait_for(done.wait(), 30)
        except TimeoutError:
            raise AssertionError(
                f"{len(marks)} frames via Janus; {engine.log_text()[-2000:]}"
            ) from None
    finally:
        await pc.close()
    counters = [c for c, _ in marks]
    assert len(counters) == 60 and counters == sorted(counters), counters
    assert counters[-1] - counters[0] >= 59
    delays = sorted(d for _, d in marks)
    assert 0 < delays[len(delays) // 2] < 1000, delays  # capture -> decoded via Janus
