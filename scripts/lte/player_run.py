"""One run: headless Chromium in the tablet's namespace plays the relay's player page
("Auto") over the emulated link; the bench reads the glass (glass.js), the relay's view of
the viewer (rung, packets) each second, and the browser's own receive counters."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from lte import glass
from lte.link import Profile
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
    freeze_count: o.freezeCount, total_freezes_s: o.totalFreezesDuration,
    fec_packets_received: o.fecPacketsReceived ?? null,
    fec_packets_discarded: o.fecPacketsDiscarded ?? null,
    frames_received: o.framesReceived ?? null,
    jitter_buffer_delay_s: o.jitterBufferDelay ?? null,
    jitter_buffer_emitted: o.jitterBufferEmittedCount ?? null,
    total_decode_time_s: o.totalDecodeTime ?? null,
    total_processing_delay_s: o.totalProcessingDelay ?? null};
}"""


@dataclass(frozen=True)
class Link:
    rate_bps: int | None  # downlink rate (tbf); None: unshaped
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    outage_s: float = 0.0  # cut the link this long, mid-run


def own_viewer(status: dict[str, Any], ours: list[str]) -> dict[str, Any] | None:
    """This run's viewer: the newest of its sessions that the relay still lists."""
    sessions = {s.get("id"): s for s in status.get("viewer_sessions") or []}
    return next((sessions[i] for i in reversed(ours) if i in sessions), None)


def link_delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> Any:
    """The emulator's packet counters for this run only."""
    return {d: {k: after[d][k] - before[d][k] for k in after[d]} for d in after}


@asynccontextmanager
async def tablet_chromium(tablet: Tablet) -> AsyncIterator[Any]:
    """A fresh headless Chromium (its own profile: a new tablet) in the tablet's namespace."""
    from playwright.async_api import async_playwright

    assert tablet.wrapper is not None, "open() the tablet first"
    with tempfile.TemporaryDirectory(prefix="bench-lte-chromium-") as profile:
        async with async_playwright() as p:
            context = await p.chromium.launch_persistent_context(
                profile, executable_path=str(tablet.wrapper), headless=True, args=FLAGS
            )
            try:
                yield context
            finally:
                await context.close()


async def run_once(
    tablet: Tablet, relay: RelayProcess, link: Link, seconds: float
) -> dict[str, Any]:
    tablet.shape(link.rate_bps, Profile(link.delay_ms, link.jitter_ms, link.loss))
    cut_at = max(4.0, (seconds - link.outage_s) / 2) if link.outage_s else None
    length = max(seconds, cut_at + link.outage_s + 6) if cut_at is not None else seconds
    timeline: list[tuple[float, str | None]] = []
    sent: dict[str, Any] = {}
    posts: list[float] = []
    ours: list[str] = []  # this run's WHEP session ids, as the relay's status names them
    restored_ms: float | None = None
    link_before = tablet.control.snapshot()
    drops_before = tablet.queue_drops()
    async with tablet_chromium(tablet) as context, aiohttp.ClientSession() as http:
        page = await context.new_page()
        await page.add_init_script(path=str(GLASS_JS))

        def on_request(request: Any) -> None:
            if request.method == "POST" and "/whep/" in request.url:
                posts.append(time.time())

        def on_response(response: Any) -> None:
            location = response.headers.get("location", "")
            if response.request.method == "POST" and "/whep/" in location:
                ours.append(location.rstrip("/").split("/")[-1][:6])  # status() shows 6

        page.on("request", on_request)
        page.on("response", on_response)
        await page.goto(relay.login_url)
        joined = time.monotonic()
        await page.goto(f"{relay.base_url}/play/{STREAM}")
        try:
            while (now := time.monotonic() - joined) < length:
                if cut_at is not None and restored_ms is None:
                    if cut_at <= now < cut_at + link.outage_s:
                        tablet.control.cut(True)
                    elif now >= cut_at + link.outage_s:
                        tablet.control.cut(False)
                        restored_ms = time.time() * 1000
                try:
                    viewer = own_viewer(await relay.stream_status(http), ours)
                except (aiohttp.ClientError, TimeoutError):
                    viewer = None
                timeline.append((now, viewer.get("rendition") if viewer else None))
                if viewer:
                    sent = sent_counters(viewer)
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - joined - now)))
        finally:
            tablet.control.cut(False)
        end_ms = time.time() * 1000
        drops = {k: v - drops_before[k] for k, v in tablet.queue_drops().items()}
        seen = await page.evaluate("() => window.__glass")
        browser = await page.evaluate(BROWSER_STATS)
        reconnects = await page.evaluate("() => window.__player?.reconnects ?? null")
        await page.goto("about:blank")  # pagehide: the player DELETEs its session
        await relay.wait_no_viewers(http)
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
        "link": {**link_delta(link_before, tablet.control.snapshot()), "dropped": drops},
    }
    if restored_ms is not None:
        result["recovery_s"] = glass.recovery_s(frames, restored_ms)
    return result
