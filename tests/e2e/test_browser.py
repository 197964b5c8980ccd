"""A real browser plays the relay: headless Chromium opens the player page over WHEP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import RelayFactory
from tests.e2e.browser import chromium, until

SIM = {
    "name": "demo",
    "source": "sim://?size=1280x720&fps=30&gop=30",
    "renditions": ["720p", "360p"],
}

VIDEO_STATE = """() => {
  const v = document.querySelector('video');
  const q = v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  return {w: v ? v.videoWidth : 0, h: v ? v.videoHeight : 0,
          presented: q ? q.totalVideoFrames : 0, state: document.body.dataset.state,
          player: window.__player ? window.__player.state : null};
}"""


async def poll(page: Any, check: Any, timeout: float, what: str) -> dict[str, Any]:
    """The player's video state once `check` holds for it."""
    state: dict[str, Any] = await until(page, VIDEO_STATE, check, timeout, what)
    return state


async def test_player_page_plays_live_video(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(relay.login_url)  # the token URL the relay prints logs in
        started = time.monotonic()
        await page.goto(relay.base_url + "/play/demo")
        first = await poll(
            page, lambda s: s["w"] > 0 and s["presented"] > 0, 20, "the first video frame"
        )
        first_frame_s = time.monotonic() - started
        # Auto starts where a ~1 Mbit/s link fits (360p) and climbs on a clean link.
        assert (first["w"], first["h"]) == (640, 360)
        await poll(page, lambda s: s["w"] == 1280 and s["h"] == 720, 15, "the climb to 720p")
        later = await poll(
            page,
            lambda s: s["presented"] >= first["presented"] + 30,
            10,
            "presented frames to keep growing",
        )
        assert later["state"] == "live" and later["player"] == "live"
        # No choice made: the relay picks the rung ("auto") and the player says which.
        deadline = time.monotonic() + 8
        while True:
            label = await page.evaluate(
                "() => document.getElementById('rendition-select').options[0].textContent"
            )
            if label == "Auto (720p)":
                break
            assert time.monotonic() < deadline, label
            await asyncio.sleep(0.2)
        assert relay.relay.sessions.count() == 1
        # The delay shown includes the relay's own share (drone packet in -> out), which
        # the player learns from the relay, not only the browser's jitter buffer.
        session = next(iter(relay.relay.sessions.sessions.values()))
        relay_share = session.status()["relay_delay_ms"]
        assert relay_share is not None and relay_share > 0
        deadline = time.monotonic() + 8
        while True:
            shown = await page.evaluate(
                "() => Number(document.getElementById('delay-value').dataset.ms || 0)"
            )
            if shown >= relay_share:
                break
            assert time.monotonic() < deadline, (shown, relay_share)
            await asyncio.sleep(0.2)
        assert shown < 1000
        assert not [e for e in errors if "Content Security Policy" in e], errors
        print(f"first frame in Chromium {first_frame_s:.2f} s after page load")
        await page.screenshot(path="/tmp/drone-relay-player.png")
        await page.goto(relay.base_url + "/")
        deadline = time.monotonic() + 10
        while relay.relay.sessions.count() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert relay.relay.sessions.count() == 0, "leaving the page must end the session"


async def test_stream_list_shows_streams(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM, {**SIM, "name": "thermal", "renditions": ["360p"]}])
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)  # redirects to "/" once logged in
        assert page.url == relay.base_url + "/"
        deadline = time.monotonic() + 10
        while True:
            names = await page.evaluate(
                "() => [...document.querySelectorAll('a.card')].map(a => a.dataset.stream)"
            )
            if sorted(names) == ["demo", "thermal"]:
                break
            assert time.monotonic() < deadline, names
            await asyncio.sleep(0.1)
        href = await page.evaluate("() => document.querySelector('a.card').getAttribute('href')")
        assert href.startswith("/play/")
        assert await page.evaluate("() => document.documentElement.lang") == "de"
