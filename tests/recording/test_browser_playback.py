"""Headless Chromium plays a recording from the control-room page and seeks in it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from relay.recording.manifest import parse_iso
from tests.conftest import RelayFactory, wait_for
from tests.e2e.browser import chromium, until
from tests.recording.api import SIM, call, sections

VIDEO = """() => {
  const v = document.getElementById('rec-video');
  const q = v.getVideoPlaybackQuality();
  return {ready: v.readyState, w: v.videoWidth, h: v.videoHeight, t: v.currentTime,
          seeking: v.seeking, paused: v.paused, duration: v.duration,
          frames: q.totalVideoFrames, error: v.error ? v.error.code : null,
          src: v.currentSrc};
}"""


async def test_control_room_plays_a_recording_with_a_seek(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    _, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "Brand Scheune", "streams": ["demo"]}
    )
    incident_id = body["id"]
    recorder = relay.relay.incidents.get(incident_id).recorders["demo"]
    await wait_for(lambda: recorder.written >= 180, 30, "6 s recorded")
    await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")
    _, detail = await call(relay.base_url, "GET", f"/api/incidents/{incident_id}")
    segment = detail["recordings"][0]["segments"][0]
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(relay.login_url)  # the token URL logs the browser in
        await page.goto(relay.base_url + "/incidents")
        await until(
            page,
            "() => document.querySelectorAll('button.inc-item').length",
            lambda n: n == 1,
            10,
            "the incident in the list",
        )
        assert await page.evaluate("() => document.documentElement.lang") == "de"
        await page.click(f"button.inc-item[data-incident='{incident_id}']")
        await until(
            page,
            "() => document.querySelectorAll('#recordings [data-play]').length",
            lambda n: n >= 1,
            10,
            "the segments of the incident",
        )
        shown = await page.evaluate(
            "() => document.querySelector('#recordings tr td.hash').textContent"
        )
        assert shown == segment["sha256"]
        events = await page.evaluate(
            "() => [...document.querySelectorAll('#audit-rows tr')].map(r => r.dataset.event)"
        )
        assert "incident_start" in events and "incident_stop" in events
        await page.click("#recordings [data-play]")
        first = await until(
            page,
            VIDEO,
            lambda s: s["ready"] >= 2 and s["t"] > 0.3 and s["frames"] > 0,
            20,
            "playback to start",
        )
        assert (first["w"], first["h"]) == (640, 360) and first["error"] is None
        assert abs(first["duration"] - segment["duration_s"]) < 0.2, first
        await page.evaluate("() => { document.getElementById('rec-video').currentTime = 4.0; }")
        seeked = await until(
            page, VIDEO, lambda s: not s["seeking"] and s["t"] >= 4.0, 10, "the seek to 4 s"
        )
        after = await until(
            page,
            VIDEO,
            lambda s: s["t"] >= seeked["t"] + 0.5,
            10,
            "playback to go on after the seek",
        )
        assert after["frames"] > first["frames"] and after["error"] is None
        assert not [e for e in errors if "Content Security Policy" in e], errors
        print(
            f"Chromium: played {first['t']:.2f} s, seeked to {seeked['t']:.2f} s, "
            f"went on to {after['t']:.2f} s, {after['frames']} frames presented"
        )
        await page.screenshot(path="/tmp/drone-relay-incidents.png", full_page=True)


TRACK = """() => ({hidden: document.getElementById('track').hidden,
  time: document.getElementById('track').dataset.time,
  alt: document.getElementById('track-altitude').textContent,
  now: document.querySelectorAll('#track-svg circle.track-now').length,
  t: document.getElementById('rec-video').currentTime,
  seeking: document.getElementById('rec-video').seeking})"""


async def test_control_room_plays_the_recorded_track_with_the_video(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """Three positions pushed at known moments of the recording: seeking the video shows the
    altitude the drone sent at that moment, and the marker on the drawn track."""
    stream = {**SIM, "telemetry": "push"}
    relay = await start_relay([stream], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    _, body = await call(
        relay.base_url, "POST", "/api/incidents", {"title": "Übung", "streams": ["demo"]}
    )
    incident_id = body["id"]
    recorder = relay.relay.incidents.get(incident_id).recorders["demo"]
    await wait_for(lambda: recorder.written >= 210, 30, "7 s recorded")
    _, live = await call(relay.base_url, "GET", f"/api/incidents/{incident_id}")
    start = parse_iso(live["recordings"][0]["segments"][0]["start"])
    for offset, alt in ((1.0, 10.0), (3.0, 30.0), (5.0, 50.0)):
        status, _ = await call(
            relay.base_url,
            "POST",
            "/api/streams/demo/telemetry",
            {"time": start + offset, "lat": 48.1 + offset / 1e4, "lon": 11.5, "alt_rel_m": alt},
        )
        assert status == 204
    await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]

        async def late(route: Any) -> None:  # a slow link: the track comes after the video
            await asyncio.sleep(1.5)
            await route.continue_()

        await page.route("**/telemetry.jsonl", late)
        await page.goto(relay.login_url)
        await page.goto(f"{relay.base_url}/incidents#{incident_id}")
        await until(
            page,
            "() => document.querySelectorAll('#recordings [data-play]').length",
            lambda n: n >= 1,
            10,
            "the segments of the incident",
        )
        await page.click("#recordings [data-play]")
        for at, alt in ((0.5, "–"), (1.5, "10"), (3.6, "30"), (5.2, "50")):
            await page.evaluate(
                f"() => {{ const v = document.getElementById('rec-video');"
                f" v.pause(); v.currentTime = {at}; }}"
            )
            shown = await until(
                page,
                TRACK,
                # The seek's events update the box just after `seeking` turns false. The box
                # is hidden until the track has loaded, with "–" in it: shown is part of the
                # wait (under load the first seek came before the track, and "–" matched).
                lambda s, at=at, alt=alt: (
                    not s["seeking"]
                    and not s["hidden"]
                    and abs(s["t"] - at) < 0.1
                    and s["alt"].startswith(alt)
                ),
                10,
                f"the track shown at {at} s",
            )
            assert shown["now"] == (0 if alt == "–" else 1), shown
