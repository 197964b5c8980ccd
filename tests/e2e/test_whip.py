"""WHIP publishing end to end: real aiortc publishers post to the relay, real viewers decode."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from relay.media.access_unit import Discontinuity
from tests.conftest import RelayFactory, RunningRelay, wait_for
from tests.whep_client import WhepViewer
from tests.whip_client import WhipPublisher

log = logging.getLogger(__name__)

WHIP = {"name": "cam", "source": "whip:", "renditions": ["360p", "source"]}
SIM = {"name": "demo", "source": "sim://?size=320x240&fps=10&gop=10", "renditions": ["240p"]}


def _advancing(counters: list[int]) -> bool:
    return all(b > a for a, b in zip(counters, counters[1:], strict=False))


async def _marked_frames(viewer: WhepViewer, count: int, timeout: float) -> None:
    await wait_for(
        lambda: len(viewer.received.counters) >= count,
        timeout,
        f"{count} marked frames (got {len(viewer.received.counters)})",
    )


async def _publisher_count(relay: RunningRelay) -> int:
    return len(relay.relay.publishers.sessions)


async def test_published_stream_reaches_transcoded_and_passthrough_viewers(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    assert (await relay.stream_status("cam"))["state"] == "offline"
    rung = relay.viewer("cam", rendition="360p")
    source = relay.viewer("cam", rendition="source")
    await rung.start()
    await source.start()
    publisher = WhipPublisher(relay.base_url, "cam", size=(960, 540))
    try:
        await publisher.publish()
        assert publisher.location and publisher.location.startswith("/whip/cam/")
        await _marked_frames(rung, 60, 30.0)
        await _marked_frames(source, 60, 30.0)
        for viewer, size in ((rung, (640, 360)), (source, (960, 540))):
            r = viewer.received
            marked = [s for (_, c, _), s in zip(r.timeline, r.sizes, strict=True) if c is not None]
            assert set(marked[-30:]) == {size}, f"expected {size}, got {set(marked)}"
            assert _advancing(r.counters), "the publisher's counter must advance, live"
            assert r.counters[-1] - r.counters[0] >= 59
            first = next(t for t, c, _ in r.timeline if c is not None)
            median = sorted(r.delays_ms)[len(r.delays_ms) // 2]
            log.warning(
                "WHIP POST -> first published frame at the %s viewer: %.3f s; delay p50 %.0f ms",
                size,
                first - publisher.posted_at,
                median,
            )
            # Capture -> publisher's encoder -> relay -> viewer's decoder, all on this host.
            assert median < 400, f"delay p50 {median:.0f} ms"
        status = await relay.stream_status("cam")
        assert status["state"] == "live" and status["source"] == "whip" and status["publishing"]
        session = relay.relay.publishers.for_stream("cam")
        assert session is not None and session.keyframes >= 1
        # Ending publishing: the stream goes back to connecting, the viewers see the slate.
        assert await publisher.delete() == 200
        slate_before = rung.received.unmarked
        await wait_for(
            lambda: rung.received.unmarked > slate_before + 5,
            10.0,
            "the slate after the publisher left",
        )
        stream = relay.relay.streams["cam"]
        await wait_for(lambda: stream.state == "connecting", 5.0, "state connecting")
        assert relay.relay.streams["cam"].whip.publisher is None  # type: ignore[union-attr]
    finally:
        await publisher.close()
        await rung.close()
        await source.close()


async def _own_frames_after_forced_idr(
    viewer: WhepViewer, publisher: WhipPublisher, forced_before: int, who: str
) -> None:
    """Waits until the publisher was made to send an IDR and `who` gets its own 960x540
    frames (the passthrough rung) from it."""
    await wait_for(
        lambda: (
            (960, 540) in viewer.received.sizes
            and publisher.encoder is not None
            and publisher.encoder.forced > forced_before
        ),
        5.0,
        f"a forced IDR and the publisher's own frames at {who}",
    )


async def test_a_joining_passthrough_viewer_makes_the_relay_ask_the_publisher_for_an_idr(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    # A drone-like 20 s GOP: without a PLI the passthrough viewer would wait up to 20 s.
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    publisher = WhipPublisher(relay.base_url, "cam", size=(960, 540), gop=600)
    viewer = relay.viewer("cam", rendition="source")
    second = relay.viewer("cam", rendition="source")
    try:
        await publisher.publish()
        session = relay.relay.publishers.for_stream("cam")
        assert session is not None and publisher.encoder is not None
        await wait_for(lambda: session.units >= 45, 20.0, "1.5 s of published frames")
        forced_before = publisher.encoder.forced
        joined = time.monotonic()
        await viewer.start()
        # The viewer starts on the 360p rung (instant start) and moves to the publisher's
        # own packets at its next IDR: the one the relay's PLI asks for.
        await _own_frames_after_forced_idr(viewer, publisher, forced_before, "the viewer")
        log.warning(
            "passthrough viewer joined mid-GOP: own frames after %.2f s; PLIs sent %d",
            time.monotonic() - joined,
            session.keyframe_requests,
        )
        # A second viewer right after: its PLI falls in the coalescing window, stays
        # pending and goes out when the window ends, not lost.
        forced_before = publisher.encoder.forced
        await second.start()
        await _own_frames_after_forced_idr(second, publisher, forced_before, "the second viewer")
    finally:
        await publisher.close()
        await viewer.close()
        await second.close()


async def test_a_transcoder_resync_asks_the_publisher_for_an_idr(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    publisher = WhipPublisher(relay.base_url, "cam", gop=600)
    transcoder = relay.relay.streams["cam"].transcoder
    assert transcoder is not None
    viewer = relay.viewer("cam", rendition="360p")  # a rung decodes only while watched
    try:
        await publisher.publish()
        assert publisher.encoder is not None
        await viewer.start()
        await wait_for(lambda: transcoder.frames_decoded >= 30, 20.0, "30 decoded frames")
        forced_before = publisher.encoder.forced
        # What an overload or a broken unit does: the decoder waits for the next IDR.
        transcoder.feed(Discontinuity("test: decoder lost its reference"))
        await wait_for(lambda: transcoder.dropped_units > 0, 5.0, "units skipped")
        decoded = transcoder.frames_decoded
        await wait_for(
            lambda: (
                publisher.encoder is not None
                and publisher.encoder.forced > forced_before
                and transcoder.frames_decoded > decoded + 10
            ),
            5.0,
            "a forced IDR and decoding again",
        )
    finally:
        await viewer.close()
        await publisher.close()


async def test_second_publisher_gets_409_until_the_first_leaves(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    first = WhipPublisher(relay.base_url, "cam")
    second = WhipPublisher(relay.base_url, "cam")
    third = WhipPublisher(relay.base_url, "cam")
    viewer = relay.viewer("cam", rendition="360p")
    try:
        await first.publish()
        await second.publish(expect=409)
        assert '"already_publishing"' in second.body
        assert await first.delete() == 200
        assert await first.delete() == 404  # gone already
        await third.publish()
        await viewer.start()
        await _marked_frames(viewer, 30, 30.0)
        assert _advancing(viewer.received.counters)
        events = [
            (e["event"], e.get("reason"), e["who"])
            for e in relay.relay.audit.read()
            if e["event"].startswith("publish")
        ]
        assert events == [
            ("publish_start", None, "test-admin"),
            ("publish_stop", "DELETE by client", "test-admin"),
            ("publish_start", None, "test-admin"),
        ]
    finally:
        for peer in (first, second, third):
            await peer.close()
        await viewer.close()


async def test_a_vanished_publisher_is_cleaned_up(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([WHIP], server={"data_dir": str(tmp_path)})
    first = WhipPublisher(relay.base_url, "cam", with_audio=True)
    second = WhipPublisher(relay.base_url, "cam")
    try:
        await first.publish()
        assert "m=audio" in first.body and "a=inactive" in first.body  # audio refused
        await wait_for(lambda: relay.relay.streams["cam"].state == "live", 30.0, "live")
        await first.close()  # no DELETE: the peer connection just ends
        await wait_for(
            lambda: not relay.relay.publishers.sessions,
            30.0,
            "the relay to close the dead publisher's session",
        )

        def stops() -> list[dict[str, object]]:
            return [e for e in relay.relay.audit.read() if e["event"] == "publish_stop"]

        await wait_for(lambda: bool(stops()), 5.0, "the audited end of the publisher")
        assert [e["reason"] for e in stops()] in (["connection closed"], ["connection failed"]), (
            stops()
        )
        assert stops()[0]["who"] == "relay" and int(str(stops()[0]["units"])) > 0
        await second.publish()
    finally:
        await first.close()
        await second.close()


async def test_whip_errors_are_clear(start_relay: RelayFactory) -> None:
    relay = await start_relay([WHIP, SIM])
    offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    async with relay.http() as http:

        async def post(path: str, body: str, ctype: str = "application/sdp") -> tuple[int, str]:
            async with http.post(
                relay.base_url + path, data=body, headers={"Content-Type": ctype}
            ) as resp:
                data = await resp.json()
                assert set(data) == {"error", "reason"} and data["reason"]
                return resp.status, data["error"]

        assert await post("/whip/nope", offer) == (404, "unknown_stream")
        assert await post("/whip/demo", offer) == (409, "not_a_whip_stream")
        assert await post("/whip/cam", offer, "text/plain") == (415, "unsupported_media_type")
        assert await post("/whip/cam", "hello") == (400, "bad_offer")
        assert await post("/whip/cam", offer) == (400, "bad_offer")  # no video m-line
        async with http.options(relay.base_url + "/whip/cam") as resp:
            assert resp.status == 204 and resp.headers["Accept-Post"] == "application/sdp"
        async with http.delete(relay.base_url + "/whip/cam/nosuch") as resp:
            assert resp.status == 404
    # A viewer's offer (recvonly) is no publisher.
    viewer = relay.viewer("cam")
    await viewer.prepare()
    async with relay.http() as http:
        async with http.post(
            relay.base_url + "/whip/cam",
            data=viewer.pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp"},
        ) as resp:
            assert resp.status == 400
            assert "must send" in (await resp.json())["reason"]
    await viewer.pc.close()
    # A publisher that offers only an H.264 profile the relay does not take (High 4:4:4).
    high = WhipPublisher(relay.base_url, "cam")
    high.pc.addTransceiver(high.track, direction="sendonly")
    await high.pc.setLocalDescription(await high.pc.createOffer())
    offer = re.sub(
        r"profile-level-id=[0-9a-f]{6}", "profile-level-id=f4001f", high.pc.localDescription.sdp
    )
    async with relay.http() as http:
        async with http.post(
            relay.base_url + "/whip/cam", data=offer, headers={"Content-Type": "application/sdp"}
        ) as resp:
            assert resp.status == 400
            assert "only f4001f" in (await resp.json())["reason"]
    await high.close()
    assert await _publisher_count(relay) == 0
    assert relay.relay.streams["cam"].whip.publisher is None  # type: ignore[union-attr]


async def test_whip_without_a_token_gets_401(start_relay: RelayFactory, tmp_path: Path) -> None:
    relay = await start_relay(
        [WHIP],
        server={"data_dir": str(tmp_path)},
        auth={
            "tokens": [
                {
                    "name": "drone-1",
                    "token": "s3cret-publish-token-0123456789",
                    "role": "viewer",
                    "streams": ["cam"],
                    "publish": ["cam"],
                },
                {
                    "name": "tablet",
                    "token": "tablet-viewer-token-0123456789",
                    "role": "operator",
                    "streams": ["*"],
                },
            ]
        },
    )
    anonymous = WhipPublisher(relay.base_url, "cam", headers={})
    watcher = WhipPublisher(
        relay.base_url, "cam", headers={"Authorization": "Bearer tablet-viewer-token-0123456789"}
    )
    wrong = WhipPublisher(relay.base_url, "cam", headers={"Authorization": "Bearer wrong"})
    good = WhipPublisher(
        relay.base_url, "cam", headers={"Authorization": "Bearer s3cret-publish-token-0123456789"}
    )
    try:
        await anonymous.publish(expect=401)
        await wrong.publish(expect=401)
        await watcher.publish(expect=403)  # may watch every stream, may publish to none
        assert "no right to publish" in watcher.body
        assert relay.relay.streams["cam"].whip.publisher is None  # type: ignore[union-attr]
        await good.publish()
    finally:
        for peer in (anonymous, wrong, watcher, good):
            await peer.close()
