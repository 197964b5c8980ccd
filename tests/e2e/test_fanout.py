"""Fan-out: encoders per rung, not per viewer; coalesced keyframes; slow viewers isolated
and moved down the ladder."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from relay.fanout.rendition import KEYFRAME_COALESCE_S
from relay.transcode import encoder as encoder_module
from tests.conftest import RelayFactory, wait_for
from tests.media_gen import make_clip
from tests.whep_client import WhepViewer

SIM = {
    "name": "demo",
    "source": "sim://?size=1280x720&fps=30&gop=120",
    "renditions": ["720p", "360p"],
}


async def test_twenty_viewers_on_two_rungs_use_two_encoders(start_relay: RelayFactory) -> None:
    before = encoder_module.ENCODERS_CREATED
    relay = await start_relay([SIM])
    viewers = [relay.viewer("demo", rendition=("720p", "360p")[i % 2]) for i in range(20)]
    try:
        await asyncio.gather(*(v.start() for v in viewers))
        await asyncio.gather(*(v.wait_frames(15, timeout=30) for v in viewers))
        assert encoder_module.ENCODERS_CREATED - before == 2
        status = await relay.stream_status("demo")
        assert status["encoders"] == 2 and status["viewers"] == 20
        sizes = {v.received.sizes[-1] for v in viewers}
        assert sizes == {(1280, 720), (640, 360)}
    finally:
        await asyncio.gather(*(v.close() for v in viewers))


async def test_joins_within_a_second_force_at_most_three_idrs(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])  # a 4 s source GOP: joins must not wait for it
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 10, "live")
    await asyncio.sleep(0.6)  # past the coalescing window of anything before
    rung = next(e for e in stream.encoders if e.rung.name == "720p")
    forced_before = rung.forced_keyframes
    viewers = [relay.viewer("demo", rendition="720p") for _ in range(10)]
    await asyncio.gather(*(v.prepare() for v in viewers))
    started = time.monotonic()
    try:
        posts, sent = [], []
        for i, v in enumerate(viewers):  # ten joins spread over 0.63 s (margin for a busy box)
            await asyncio.sleep(max(0.0, started + 0.07 * i - time.monotonic()))
            sent.append(time.monotonic())
            posts.append(asyncio.ensure_future(v.post()))
        assert sent[-1] - sent[0] < 1.0, "the ten joins must fall within one second"
        await asyncio.gather(*posts)
        await asyncio.gather(*(v.wait_frames(5, timeout=10) for v in viewers))
        forced = rung.forced_keyframes - forced_before
        # One forced IDR per coalescing window while requests come in: 1-3 on a quiet box
        # (the joins span 0.63 s); a loaded CI box stretches the late handshakes, whose
        # requests then fall into a fourth window (seen once: 4). Never one per join.
        windows = 1 + int((time.monotonic() - started) / KEYFRAME_COALESCE_S)
        assert 1 <= forced <= min(windows, len(viewers) // 2), (
            f"{forced} forced IDRs for 10 joins in 1 s ({windows} coalescing windows)"
        )
        first = sorted(v.received.first_frame_s or 99 for v in viewers)
        # Nobody waited for the 4 s GOP. The bound leaves room for a loaded 2-core CI box
        # (the tail reached 1.7 s there while apt ran); latency is measured in benchmarks.
        assert first[-1] < 3.0, f"first frames {first}"
        print(
            f"10 joins in {sent[-1] - sent[0]:.2f} s: {forced} forced IDRs, first frames "
            f"{first[0] * 1000:.0f}-{first[-1] * 1000:.0f} ms"
        )
    finally:
        await asyncio.gather(*(v.close() for v in viewers))


def _fps_and_delay(viewer: WhepViewer, since: int) -> tuple[float, float]:
    r = viewer.received
    counters = r.counters[since:]
    delays = r.delays_ms[since:]
    # Frames received per second of capture time (the counter runs at the source's 30 fps).
    fps = (len(counters) - 1) / ((counters[-1] - counters[0]) / 30)
    return fps, statistics.median(delays)


async def test_throttled_viewer_lands_on_lowest_rung_others_unaffected(
    start_relay: RelayFactory,
) -> None:
    relay = await start_relay([{**SIM, "source": "sim://?size=1280x720&fps=30&gop=30"}])
    steady = relay.viewer("demo", rendition="720p")
    await steady.start()
    weak = relay.viewer("demo", throttle_bps=300_000)  # automatic rung
    # The 360p rung runs before the weak viewer comes (a viewer that came and went keeps it
    # running for rung_idle_s): what is compared is the fan-out, not the cost of a rung's start.
    warm = relay.viewer("demo", rendition="360p")
    await warm.start()
    await warm.wait_frames(1)
    await warm.close()
    try:
        await steady.wait_frames(30)
        mark = len(steady.received.counters)
        await asyncio.sleep(4)
        fps_before, delay_before = _fps_and_delay(steady, mark)
        await weak.start()
        joined = time.monotonic()
        sessions = relay.relay.sessions.sessions.values()
        weak_session = next(s for s in sessions if s.status()["auto"])
        # Nothing known of its link: it starts on the rung that fits ~1 Mbit/s, not on the
        # top one (relay.fanout.start), and must stay there on a 300 kbit/s link.
        assert weak_session.track.rendition.name == "360p"
        await wait_for(
            lambda: weak_session.track.rendition.name == "360p",
            5,
            "the throttled viewer to land on 360p",
        )
        landed = time.monotonic() - joined
        mark = len(steady.received.counters)
        await asyncio.sleep(4)
        fps_after, delay_after = _fps_and_delay(steady, mark)
        print(
            f"weak viewer on 360p after {landed:.1f} s; steady viewer fps "
            f"{fps_before:.1f} -> {fps_after:.1f}, delay {delay_before:.0f} -> "
            f"{delay_after:.0f} ms"
        )
        assert fps_after >= fps_before * 0.9
        # A viewer that holds the others back shows as hundreds of ms or lost frames, which
        # this catches. Since the pacer came, the steady viewer's median delay rises by
        # 14-17 ms when the throttled one joins (62 -> 79, 64 -> 78 ms on a quiet machine),
        # not yet explained: the pacer's shared tick, or this process decoding both viewers
        # under one GIL with the relay. On a loaded CI machine (this process decodes both
        # viewers beside the relay) it rose by 50-86 ms in 2 runs of 4 (98 -> 149,
        # 212 -> 297 ms): the bound allows 100 ms, still far under the hundreds of ms of a
        # viewer held back.
        assert delay_after <= delay_before * 1.1 + 100
        # (500 kbit/s of 360p still overflows a 300 kbit/s link: the picture there needs
        # a lower rung such as "240p"; this test is about the move and the isolation.)
    finally:
        await steady.close()
        await weak.close()


async def test_passthrough_viewer_starts_at_once_then_gets_the_source(
    start_relay: RelayFactory,
) -> None:
    # A drone with a 4 s GOP: waiting for its next IDR would take up to 4 s.
    relay = await start_relay(
        [
            {
                "name": "demo",
                "source": "sim://?size=1280x720&fps=30&gop=120",
                "renditions": ["source", "360p"],
            }
        ]
    )
    stream = relay.relay.streams["demo"]
    await wait_for(lambda: stream.state == "live", 10, "live")
    viewer = relay.viewer("demo", rendition="source")
    await viewer.start()
    try:
        await viewer.wait_frames(1, timeout=5)
        r = viewer.received
        assert r.first_frame_s is not None and r.first_frame_s < 0.5, r.first_frame_s
        assert r.sizes[0] == (640, 360)  # the transcoded rung, at once
        await wait_for(lambda: r.sizes[-1] == (1280, 720), 6, "the drone's own picture")
        await viewer.wait_frames(len(r.sizes) + 30)
        assert r.sizes[-1] == (1280, 720)
        steps = list(zip(r.counters, r.counters[1:], strict=False))
        assert all(b > a for a, b in steps), "frames went back or repeated across the switch"
        session = next(iter(relay.relay.sessions.sessions.values()))
        assert session.track.rendition.name == "source" and session.track.switches == 1
    finally:
        await viewer.close()


async def test_bframe_source_is_never_passed_through(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "b.mp4", seconds=3.0, high_bframes=True)
    relay = await start_relay(
        [{"name": "b", "source": f"file:{clip}", "renditions": ["source", "360p"]}]
    )
    stream = relay.relay.streams["b"]
    await wait_for(lambda: stream.source_reorders, 10, "B-frames to be noticed")
    async with relay.http() as http:
        async with http.post(
            relay.base_url + "/whep/b?rendition=source",
            data="v=0\r\n",
            headers={"Content-Type": "application/sdp"},
        ) as resp:
            assert resp.status == 409
            assert "B-frames" in (await resp.json())["reason"]
    viewer = relay.viewer("b")  # automatic: lands on what plays
    await viewer.start()
    try:
        await viewer.wait_frames(20)
        assert set(viewer.received.sizes) == {(640, 360)}
        assert (await relay.stream_status("b"))["source_has_bframes"] is True
    finally:
        await viewer.close()


async def test_lost_packets_are_resent_on_nack(start_relay: RelayFactory) -> None:
    """The lean send loop keeps aiortc's NACK contract: a viewer that loses every 40th RTP
    packet gets them resent and sees (nearly) every frame, not a picture broken until the
    next keyframe."""
    relay = await start_relay([{**SIM, "renditions": ["720p"]}])
    viewer = relay.viewer("demo", lose_every=40)
    await viewer.start()
    try:
        await viewer.wait_frames(90)
        session = next(iter(relay.relay.sessions.sessions.values()))
        sent = session.track.subscriber.delivered
        counters = viewer.received.counters
        span = counters[-1] - counters[0] + 1
        assert session.lean_rtp
        assert session.track.retransmits > 0, "no NACKed packet was resent"
        # Lost packets come to about 5 % of the frames; resent, at most 3 % stay missing.
        assert len(counters) >= 0.97 * span, (len(counters), span, sent)
    finally:
        await viewer.close()


async def test_passthrough_is_answered_with_the_drones_own_profile(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """A High-profile drone without B-frames is passed through, and the SDP answer names
    High (what is sent), not Baseline; a transcoded rung's viewer is answered Baseline."""
    clip = make_clip(tmp_path / "high.mp4", seconds=4.0, bframes=0)
    relay = await start_relay(
        [{"name": "h", "source": f"file:{clip}", "renditions": ["source", "360p"]}]
    )
    stream = relay.relay.streams["h"]
    await wait_for(lambda: stream.source_profile is not None, 10, "the drone's SPS")
    assert stream.source_profile is not None and stream.source_profile.startswith("64")
    source = relay.viewer("h", rendition="source")
    rung = relay.viewer("h", rendition="360p")
    await source.start()
    await rung.start()
    try:
        await source.wait_frames(1)
        await wait_for(
            lambda: source.received.sizes[-1] == (640, 360) and len(source.received.sizes) > 40,
            10,
            "frames",
        )
        assert _answered_profile(source)[:2] == "64"
        assert _answered_profile(rung) == "42e01f"
        session = next(
            s for s in relay.relay.sessions.sessions.values() if s.rendition.name == "source"
        )
        assert session.track.rendition.name == "source"
    finally:
        await source.close()
        await rung.close()


def _answered_profile(viewer: WhepViewer) -> str:
    """The profile-level-id of the first (chosen) codec in the relay's SDP answer."""
    sdp = viewer.pc.remoteDescription.sdp
    m_line = next(line for line in sdp.splitlines() if line.startswith("m=video"))
    chosen = m_line.split()[3]
    fmtp = next(line for line in sdp.splitlines() if line.startswith(f"a=fmtp:{chosen} "))
    return fmtp.split("profile-level-id=")[1].split(";")[0].lower()
