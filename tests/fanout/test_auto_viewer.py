"""An Auto viewer end to end with a real aiortc peer that decodes: it starts on the rung that
fits ~1 Mbit/s, climbs to the top rung on a clean link within seconds, and its next start
(same identity and address) begins where the link was known to carry."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relay.fanout import adapt
from relay.fanout.estimator import Signal
from tests.conftest import RelayFactory, wait_for

SIM = {
    "name": "demo",
    "source": "sim://?size=1280x720&fps=30&gop=30",
    "renditions": ["720p", "360p"],
}


async def test_auto_viewer_starts_low_climbs_on_a_clean_link_and_restarts_high(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay([SIM])
    sessions = relay.relay.sessions.sessions
    viewer = relay.viewer("demo")  # no rendition: Auto
    await viewer.start()
    try:
        session = next(iter(sessions.values()))
        assert session.adapter is not None
        assert session.track.rendition.name == "360p"  # nothing known of this link yet
        await viewer.wait_frames(5)
        assert viewer.received.sizes[0] == (640, 360)
        joined = viewer.received.started
        await wait_for(
            lambda: viewer.received.sizes[-1] == (1280, 720), 20, "the climb to 720p frames"
        )
        climbed_s = time.monotonic() - joined
        adapter = session.adapter
        await wait_for(lambda: not adapter.trying, 15, "the trial on 720p to pass")
        frames = viewer.received.frames
        await wait_for(lambda: viewer.received.frames >= frames + 30, 10, "720p frames to flow")
        assert viewer.received.sizes[-1] == (1280, 720)
        assert session.track.rendition.name == "720p" and adapter.fallbacks == 0
        status = session.status()  # what /api/streams and the player's viewer state show
        assert status["estimate_bps"] >= 2_000_000 and status["link"] in ("clean", "normal")
        print(f"Auto viewer on 720p {climbed_s:.1f} s after joining on 360p")
    finally:
        await viewer.close()
    await wait_for(lambda: not sessions, 10, "the first session to end")
    again = relay.viewer("demo")
    await again.start()
    try:
        session = next(iter(sessions.values()))
        assert session.track.rendition.name == "720p"  # its link carried 720p minutes ago
        await again.wait_frames(5)
        assert again.received.sizes[0] == (1280, 720)
    finally:
        await again.close()


async def test_an_outage_keeps_the_session_and_ends_with_a_keyframe_at_once(
    start_relay: RelayFactory,
) -> None:
    """The viewer's link goes dark both ways for 6 s (media in, RTCP out; STUN consent
    still answers, as a short radio gap lets it): the session stays, the adapter reads the
    silence as an outage, not as loss, and asks for a keyframe as soon as RTCP is back."""
    relay = await start_relay([SIM])
    sessions = relay.relay.sessions.sessions
    viewer = relay.viewer("demo")
    await viewer.prepare()
    dark = False
    ice = viewer.pc.getTransceivers()[-1].receiver.transport.transport
    recv, send = ice._recv, ice._send

    async def receive() -> bytes:
        while True:
            data: bytes = await recv()
            if not dark:
                return data

    async def transmit(data: bytes) -> None:
        if not dark:
            await send(data)

    ice._recv, ice._send = receive, transmit
    await viewer.post()
    try:
        session = next(iter(sessions.values()))
        adapter = session.adapter
        assert adapter is not None
        await viewer.wait_frames(60)  # the adapter has learnt the receiver's RTCP rhythm
        dark = True
        darkened = viewer.received.frames
        await asyncio.sleep(6)
        requests = sum(r.keyframe_requests for r in ladder_of(session))
        dark = False
        back = time.monotonic()
        await wait_for(lambda: adapter.resumes == 1, 10, "the adapter to see RTCP resume")
        resumed_s = time.monotonic() - back
        assert sum(r.keyframe_requests for r in ladder_of(session)) > requests
        # Not timed: aiortc's jitter buffer resets on NACK repairs of packets from before
        # the outage (misorder >= 100), which can hold its picture back several seconds.
        await wait_for(lambda: viewer.received.frames > darkened + 10, 30, "frames again")
        picture_s = time.monotonic() - back
        assert session.id in sessions
        assert adapter.estimator.verdicts[Signal.LOSS] == 0  # the outage was not loss
        print(f"RTCP back {resumed_s:.2f} s, frames back {picture_s:.2f} s after the outage")
    finally:
        await viewer.close()


def ladder_of(session: Any) -> list[Any]:
    assert session.adapter is not None
    return list(session.adapter.ladder)


@contextlib.asynccontextmanager
async def fixed_720p_viewer(start_relay: RelayFactory) -> AsyncIterator[tuple[Any, Any]]:
    """A relay with the sim and one aiortc viewer that chose 720p: (viewer, its session)."""
    relay = await start_relay([SIM])
    viewer = relay.viewer("demo", rendition="720p")
    await viewer.start()
    try:
        session = next(iter(relay.relay.sessions.sessions.values()))
        assert session.adapter is not None
        yield viewer, session
    finally:
        await viewer.close()


async def test_a_fixed_rung_viewers_link_is_watched_and_paced_fast_once_clear(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A viewer that chose 720p never moves, but its link is watched like an Auto viewer's:
    loopback loses nothing, so after 5 s its pacer sends at the clear link's rate. (Its
    quick handshake would make it near, clear at once: no handshake counts as quick here.)"""
    monkeypatch.setattr(adapt, "NEAR_HANDSHAKE_S", 0.0)
    async with fixed_720p_viewer(start_relay) as (viewer, session):
        assert session.status()["auto"] is False
        pacer = session.track.pacer
        assert not pacer.clear
        await wait_for(lambda: pacer.clear, 15, "the loss-free link to be clear")
        frames = viewer.received.frames
        await wait_for(lambda: viewer.received.frames >= frames + 30, 10, "frames after it")
        assert viewer.received.sizes[-1] == (1280, 720)
        assert session.track.rendition.name == "720p" and session.adapter.moves_down == 0
        assert session.status()["pacer"]["clear"] is True


async def test_a_viewer_whose_handshake_was_quick_is_paced_fast_from_its_first_keyframe(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A near link (ICE and DTLS done within NEAR_HANDSHAKE_S of the answer, a LAN) starts
    clear: its first keyframe leaves at the clear rate, not after 5 s without loss. The
    bound is raised here so that a loaded test machine's loopback counts as near."""
    monkeypatch.setattr(adapt, "NEAR_HANDSHAKE_S", 5.0)
    async with fixed_720p_viewer(start_relay) as (viewer, session):
        pacer = session.track.pacer
        await viewer.wait_frames(1, timeout=15)
        # Clear by the first picture (its keyframe left at the clear rate after at most the
        # first burst), not after the 5 s without loss a link needs to earn it.
        assert pacer.clear and session.adapter.pacer_target.clear_link.lapses == 0
        await viewer.wait_frames(30, timeout=15)
        assert viewer.received.sizes[-1] == (1280, 720)
        assert session.status()["pacer"]["clear"] is True
