"""The player's fallback when WebRTC cannot connect (docs/fallback.md): Chromium with the
policy disable_non_proxied_udp (no UDP without a proxy, and no TURN is configured) falls
back by itself to the WebSocket/MSE path, plays (frames presented, the playhead runs, the
sim's frame marks give the delay at the glass) and says so.

Debian's Chromium ignores --force-webrtc-ip-handling-policy (it still gathered UDP host
candidates and played over WebRTC) but honours --webrtc-ip-handling-policy (no candidate at
all); both are given, so the test holds for builds that read either."""

from __future__ import annotations

from typing import Any

import aioice.ice
import pytest

from tests.conftest import RelayFactory, wait_for
from tests.e2e.browser import chromium, until

SIM = {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=60", "renditions": ["360p"]}
NO_UDP = [
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
]
STATE = """() => {
  const p = window.__player, v = document.querySelector('video');
  const q = v.getVideoPlaybackQuality();
  return {transport: p.transport, fallbacks: p.fallbacks, state: p.state,
          shown: document.getElementById('transport-value').textContent,
          body: document.body.dataset.transport, frames: q.totalVideoFrames,
          time: v.currentTime, width: v.videoWidth, delay: p.stats.delayMs,
          kind: p.stats.delayKind, rung: p.currentRung};
}"""
WEBRTC_FRAMES = """async () => {
  let frames = 0;
  const pc = window.__player.pc;
  if (pc) (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded; });
  return frames;
}"""


async def test_the_player_falls_back_to_mse_without_udp(start_relay: RelayFactory) -> None:
    relay = await start_relay([SIM])
    async with chromium(NO_UDP) as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        await page.goto(f"{relay.base_url}/play/demo")
        first = await until(
            page, STATE, lambda s: s["transport"] == "mse" and s["frames"] >= 30, 30, "MSE frames"
        )
        later = await until(
            page, STATE, lambda s: s["frames"] >= first["frames"] + 30, 10, "more frames"
        )
        assert later["time"] > first["time"], (first, later)
        assert later["shown"] == "WebSocket (MSE)" and later["body"] == "mse", later
        assert later["width"] == 640 and later["fallbacks"] == 1, later
        live = await until(page, STATE, lambda s: s["state"] == "live", 10, "live badge")
        measured = await until(page, STATE, lambda s: s["kind"] == "measured", 10, "delay")
        assert live["rung"] == "360p" and 0 < measured["delay"] < 1500, measured
    # The relay counted the MSE viewer like a WHEP viewer, and saw it go.
    status = await relay.stream_status("demo")
    assert status["viewers"] == 0


async def test_the_player_returns_to_webrtc_when_it_connects_again(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay's ICE answers nothing at first (its UDP blocked, as a firewall would): the
    player falls back; once the checks get through, its next WebRTC trial takes over."""
    blocked = True
    answer = aioice.ice.Connection.request_received

    def request_received(self: Any, *args: Any, **kwargs: Any) -> None:
        if not blocked:
            answer(self, *args, **kwargs)

    monkeypatch.setattr(aioice.ice.Connection, "request_received", request_received)
    relay = await start_relay([SIM])
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        await page.goto(f"{relay.base_url}/play/demo?webrtc_retry_s=3")
        await until(page, STATE, lambda s: s["transport"] == "mse" and s["frames"] >= 10, 30, "MSE")
        blocked = False
        back = await until(
            page, STATE, lambda s: s["transport"] == "webrtc" and s["state"] == "live", 30, "WebRTC"
        )
        assert back["shown"] == "WebRTC" and back["fallbacks"] == 1, back
        frames = await until(page, WEBRTC_FRAMES, lambda n: n >= 20, 10, "WebRTC frames")
        assert frames >= 20
        # The failed trials were ended (DELETE) and the fallback's socket closed: one viewer.
        rung = relay.relay.streams["demo"].renditions["360p"]
        sessions = relay.relay.sessions.sessions
        await wait_for(lambda: len(sessions) == 1 and rung.viewers == 1, 10, "one viewer")
