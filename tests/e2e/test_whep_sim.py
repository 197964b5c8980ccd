"""End to end with the simulated drone: real aiortc viewers decode what the relay sends."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from relay.transcode import encoder as encoder_module
from tests.conftest import RelayFactory, RunningRelay, wait_for

SIM = {
    "name": "demo",
    "source": "sim://?size=1280x720&fps=30&gop=30",
    "renditions": ["720p", "360p"],
}


async def test_viewer_decodes_live_frames_at_configured_size(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    # The top rung asked for by name: an Auto viewer starts lower and climbs
    # (tests/fanout/test_auto_viewer.py).
    viewer = relay.viewer("demo", rendition="720p")
    await viewer.start()
    try:
        await viewer.wait_frames(95)
        r = viewer.received
        assert set(r.sizes) == {(1280, 720)}
        assert len(r.counters) >= 90, f"only {len(r.counters)} frames carried readable marks"
        # Live frames, not repeats: the burned-in counter strictly advances.
        assert all(b > a for a, b in zip(r.counters, r.counters[1:], strict=False))
        assert r.counters[-1] - r.counters[0] >= 89
        assert max(r.delays_ms) < 1000, "delay capture -> decoded must stay under a second"
    finally:
        await viewer.close()


async def test_rendition_query_picks_the_rung(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    # An offer with audio as well, as many WHEP players send: video still flows.
    viewer = relay.viewer("demo", rendition="360p", with_audio=True)
    await viewer.start()
    try:
        await viewer.wait_frames(10)
        assert set(viewer.received.sizes) == {(640, 360)}
        assert len(viewer.received.counters) >= 9  # marks survive the downscale
    finally:
        await viewer.close()


async def test_three_viewers_share_one_encoder_per_rung(start_relay: RelayFactory) -> None:
    before = encoder_module.ENCODERS_CREATED
    relay = await start_relay([{**SIM, "renditions": ["720p"]}])
    viewers = [relay.viewer("demo") for _ in range(3)]
    for v in viewers:
        await v.start()
    try:
        for v in viewers:
            await v.wait_frames(30)
        status = await relay.stream_status("demo")
        assert status["viewers"] == 3
        assert status["encoders"] == 1
        assert encoder_module.ENCODERS_CREATED - before == 1
        # Packetized once: every viewer's sender sent the shared RTP payloads through the
        # lean send loop, none packetized by itself.
        sessions = list(relay.relay.sessions.sessions.values())
        assert all(s.lean_rtp and s.track.subscriber.delivered >= 30 for s in sessions)
        assert all(s.track.encoder.fallbacks == 0 for s in sessions)
        metrics = await _text(relay, relay.base_url + "/metrics")
        rungs = next(
            f
            for f in text_string_to_metric_families(metrics)
            if f.name == "relay_rendition_viewers"
        )
        assert [s.value for s in rungs.samples if s.labels["rendition"] == "720p"] == [3]
    finally:
        for v in viewers:
            await v.close()


async def test_delete_and_peer_close_end_sessions(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    a, b = relay.viewer("demo"), relay.viewer("demo")
    await a.start()
    await b.start()
    await a.wait_frames(5)
    await b.wait_frames(5)
    assert relay.relay.sessions.count() == 2
    await a.close()  # DELETE on the Location
    assert relay.relay.sessions.count() == 1
    async with relay.http() as http:  # a second DELETE: the session is gone
        async with http.delete(relay.base_url + str(a.location)) as resp:
            assert resp.status == 404
    b.location = None
    await b.close()  # the peer just goes away, no DELETE
    await wait_for(lambda: relay.relay.sessions.count() == 0, 15, "peer close to end session")
    status = await relay.stream_status("demo")
    assert status["viewers"] == 0


async def _text(relay: RunningRelay, url: str) -> str:
    async with relay.http() as http:
        async with http.get(url) as resp:
            assert resp.status == 200
            return await resp.text()
