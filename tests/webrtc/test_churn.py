"""Viewers that come and go: each is counted once, and nothing of it stays behind."""

from __future__ import annotations

import asyncio
import gc
import time

import aiohttp
import pytest
from aiortc import RTCPeerConnection

from relay.fanout.rendition import Rendition
from relay.media.packet import encoded_packet
from relay.webrtc import peers as peers_module
from relay.webrtc.ice import rtc_configuration
from relay.webrtc.track import RenditionTrack
from tests.conftest import RelayFactory, wait_for

SIM = {
    "name": "demo",
    "source": "sim://?size=640x360&fps=30&gop=30",
    "renditions": ["360p", "240p"],
}
IDR = b"\x00\x00\x00\x01\x65\x88\x84\x00"


async def test_a_viewer_moving_between_rungs_is_counted_on_one() -> None:
    high, low = Rendition("demo", "360p", 800_000), Rendition("demo", "240p", 400_000)
    track = RenditionTrack(high, "v1")
    track.switch_to(low)  # the move starts: two subscribers until low's keyframe
    assert (high.viewers, low.viewers) == (1, 0)
    low.publish(encoded_packet(IDR, 0, True, time.monotonic_ns()))
    assert await track.feed.next() is not None  # the keyframe is there: the viewer moves
    assert (high.viewers, low.viewers) == (0, 1)
    track.stop()
    assert (high.viewers, low.viewers) == (0, 0)


async def _post_offer(base_url: str, token: str) -> tuple[RTCPeerConnection, str]:
    """A WHEP offer whose peer never connects: the answer is never applied."""
    pc = RTCPeerConnection(rtc_configuration(()))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.post(
            f"{base_url}/whep/demo",
            data=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp"},
        ) as resp:
            assert resp.status == 201, await resp.text()
            return pc, resp.headers["Location"]


async def test_an_offer_that_never_connects_counts_once_and_frees_its_slot(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peers_module, "ICE_TIMEOUT_S", 7.0)
    relay = await start_relay([SIM])
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "live")
    pc, _ = await _post_offer(relay.base_url, relay.token)
    try:
        # Its queue fills (no one sends from it) for longer than an adapter needs to move
        # a viewer down: it must stay one viewer on one rung, not start a move.
        seen = set()
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            status = await relay.stream_status("demo")
            seen.add(status["viewers"])
            seen.add(sum(r["viewers"] for r in status["rendition_stats"]))
            await asyncio.sleep(0.25)
        assert seen == {1}, f"viewers seen: {seen}"
        # ICE never started: the slot is free long before the 30 s connect deadline.
        sessions = relay.relay.sessions
        await wait_for(lambda: sessions.count() == 0, 8, "the unconnected viewer closed")
        assert (await relay.stream_status("demo"))["viewers"] == 0
    finally:
        await pc.close()


async def test_a_viewer_that_leaves_is_freed_at_once(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    viewer = relay.viewer("demo")
    await viewer.start()
    await viewer.wait_frames(5)
    await viewer.close()
    sessions = relay.relay.sessions
    assert sessions.count() == 0

    # Neither held by a sleeping connect deadline or adapter for half a minute, nor left
    # to the garbage collector's rare full runs: the relay cuts its reference cycles.
    gc.disable()  # reference counting alone frees it
    try:
        await wait_for(
            lambda: len(sessions.peers) == 0, 10, "the closed viewer's peer connection freed"
        )
    finally:
        gc.enable()
    assert sessions.reclaimer.unlinked == 1
    async with relay.http() as http:
        async with http.get(relay.base_url + "/metrics") as resp:
            text = await resp.text()
    assert "relay_peer_connections 0.0" in text.splitlines()
    assert "relay_asyncio_tasks " in text and "relay_open_fds " in text
