"""One run: headless Chromium in the tablet's namespace plays the relay's player page
("Auto") over the emulated link; the bench reads the glass (glass.js), the relay's view of
the viewer (rung, packets) each second, and the browser's own receive counters."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from lte import glass
from lte.netns import Tablet
from lte.relay_proc import STREAM, RelayProcess, sent_counters
from tests.e2e.browser import FLAGS

GLASS_JS = Path(__file__).with_name("glass.js")
OUTAGE_S = 8.0

BROWSER_STATS = """async () => {
  const pc = window.__player && window.__player.pc;
  if (!pc) return null;
  let o = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && (s.kind ?? s.mediaType) === "video") o = s;
  });
  return o && {packets_received: o.packetsReceived, packets_lost: o.packetsLost,
    nack_count: o.nackCount, retransmitted_packets_received: o.retransmittedPacketsReceived ?? null,
    frames_decoded: o.framesDecoded, frames_dropped: o.framesDropped,
    freeze_count: o.freezeCount, total_freezes_s: o.totalFreezesDuration};
}"""


@dataclass(frozen=True)
class Link:
    rate_bps: int | None  # downlink rate (tbf); None: unshaped
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    outage_s: float = 0.0  # cut the link this long, mid-run


def own_viewer(status: dict[str, Any]) -> dict[str, Any] | None:
    """The bench's viewer (the only one; after a reconnect, the newest connected one)."""
    sessions = status.get("viewer_sessions") or []
    connected = [s for s in sessions if s.get("connected")]
    chosen: dict[str, Any] | None = (connected or sessions or [None])[-1]
    return chosen


def link_delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> Any:
    """The emulator's packet counters for this run only."""
    return {d: {k: after[d][k] - before[d][k] for k in after[d]} for d in after}


async def run_once(
    tablet: Tablet, relay: RelayProcess, link: Link, seconds: float
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from lte.link import Profile

    tablet.shape(link.rate_bps, Profile(link.delay_ms, link.jitter_ms, link.loss))
    cut_at = max(4.0, (seconds - link.outage_s) / 2) if link.outage_s else None
    length = max(seconds, cut_at + link.outage_s + 6) if cut_at is not None else seconds
    timeline: list[tuple[float, str | None]] = []
    sent: dict[str, Any] = {}
    posts: list[float] = []
    restored_ms: float | None = None
    link_before = tablet.control.snapshot()
    with tempfile.TemporaryDirectory(prefix="bench-lte-chromium-") as profile:
        async with async_playwright() as p, aiohttp.ClientSession() as http:
            context = await p.chromium.launch_persistent_context(
                profile, executable_path=str(tablet.wrapper), headless=True, args=FLAGS
            )
            try:
                page = await context.new_page()
                await page.add_init_script(path=str(GLASS_JS))
                page.on(
                    "request",
                    lambda r: (
                        posts.append(time.time())
                        if r.method == "POST" and "/whep/" in r.url
                        else None
                    ),
                )
                await page.goto(relay.login_url)
                joined = time.monotonic()
                await page.goto(f"{relay.base_url}/play/{STREAM}")
                cut_state = "before"
                while (now := time.monotonic() - joined) < length:
                    if cut_at is not None and cut_state == "before" and now >= cut_at:
                        tablet.control.cut(True)
                        cut_state = "cut"
                    elif cut_state == "cut" and now >= cut_at + link.outage_s:  # type: ignore[operator]
                        tablet.control.cut(False)
                        restored_ms = time.time() * 1000
                        cut_state = "restored"
                    try:
                        viewer = own_viewer(await relay.stream_status(http))
                    except (aiohttp.ClientError, TimeoutError):
                        viewer = None
                    timeline.append((now, viewer.get("rendition") if viewer else None))
                    if viewer:
                        sent = sent_counters(viewer)
                    await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - joined - now)))
                end_ms = time.time() * 1000
                seen = await page.evaluate("() => window.__glass")
                browser = await page.evaluate(BROWSER_STATS)
                reconnects = await page.evaluate("() => window.__player?.reconnects ?? null")
            finally:
                tablet.control.cut(False)
                await context.close()
    frames = seen["frames"]
    result: dict[str, Any] = {
        "rungs": glass.changes(timeline),
        "rung_share": glass.rung_shares(timeline, length),
        **glass.frame_figures(frames, end_ms),
        "first_frame_s": round((frames[0][2] - posts[0] * 1000) / 1000, 2)
        if frames and posts
        else None,
        "sent": sent,  # the relay's per-viewer counters, null where the relay has none
        "browser": browser,
        "whep_posts": len(posts),
        "player_reconnects": reconnects,
        "player_states": [[round((t - posts[0] * 1000) / 1000, 1), s] for t, s in seen["states"]]
        if posts
        else seen["states"],
        "link": link_delta(link_before, tablet.control.snapshot()),
    }
    if restored_ms is not None:
        result["recovery_s"] = glass.recovery_s(frames, restored_ms)
    return result
