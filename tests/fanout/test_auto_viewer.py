"""An Auto viewer end to end with a real aiortc peer that decodes: it starts on the rung that
fits ~1 Mbit/s, climbs to the top rung on a clean link within seconds, and its next start
(same identity and address) begins where the link was known to carry."""

from __future__ import annotations

import time

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
