#!/usr/bin/env python3
"""Delay at the glass of the WebSocket/MSE fallback (issue 16): the relay's player in
headless Chromium that may not use UDP (the disable_non_proxied_udp policy, no TURN), so it
falls back by itself; capture -> presented read from the sim's frame marks on every frame
the player presents (scripts/lte/glass.js), as scripts/bench_glass.py does for WebRTC.

    .venv/bin/python scripts/bench_mse.py [--runs 3] [--seconds 10] [--rung 720p]
        [--transport mse|webrtc]

One relay (`python -m relay serve`, the sim at 1280x720 30 fps, rungs 720p and 360p); per
run a fresh page opens /play/demo?rendition=RUNG, waits until it plays on the wanted
transport, settles, then records a window of --seconds. --transport webrtc (UDP allowed)
gives the comparison on the same machine. Medians of the runs; prints ONE JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from lte import glass  # noqa: E402
from lte.player_run import GLASS_JS  # noqa: E402

from scripts.bench_glass import STREAMS  # noqa: E402  (the same 720p sim, the same rungs)
from scripts.relay_process import RelayProcess  # noqa: E402
from tests.e2e.browser import CHROMIUM, FLAGS  # noqa: E402
from tests.e2e.test_player_mse import NO_UDP  # noqa: E402

SETTLE_S = 3.0
# The newest counter read, and how many frames glass.js recorded (the window's edges).
EDGE = """() => {
  const frames = window.__glass.frames;
  let counter = -1;
  for (let i = frames.length - 1; i >= 0 && counter < 0; i--) counter = frames[i][0];
  return [counter, frames.length, window.__player.transport];
}"""


async def one_run(context: Any, relay: RelayProcess, args: argparse.Namespace) -> dict[str, Any]:
    page = await context.new_page()
    await page.add_init_script(path=str(GLASS_JS))
    await page.goto(f"{relay.base_url}/play/demo?rendition={args.rung}")
    started = time.monotonic()
    while True:
        counter, _, transport = await page.evaluate(EDGE)
        if counter >= 0 and transport == args.transport:
            break
        if time.monotonic() - started > 40:
            raise SystemExit(f"no marked picture on {args.transport} within 40 s ({transport})")
        await asyncio.sleep(0.2)
    playing_s = time.monotonic() - started  # includes the 4 s WebRTC gets before the fallback
    await asyncio.sleep(SETTLE_S)
    start = await page.evaluate(EDGE)
    await asyncio.sleep(args.seconds)
    end = await page.evaluate(EDGE)
    records = (await page.evaluate("() => window.__glass.frames"))[start[1] : end[1]]
    shows = await page.evaluate(
        "() => [window.__player.stats.delayMs, window.__player.stats.delayKind,"
        " window.__player.mse]"
    )
    await page.goto("about:blank")
    await page.close()
    pictures = glass.window_pictures(records, start[0], end[0])
    made = end[0] - start[0]
    return {
        **glass.delay_figures(pictures),
        "frames_made": made,
        "frames_presented": len(pictures),
        "fps": round(len(pictures) / args.seconds, 1),
        "open_to_playing_s": round(playing_s, 2),
        "player_shows": {"ms": shows[0], "kind": shows[1]},
        "mse": shows[2],
        "load": os.getloadavg()[0],
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    relay = RelayProcess(STREAMS, prefix="bench-mse-", log_level="warning")
    relay.launch("bench_mse", 60, live=True)
    flags = [*FLAGS, *(NO_UDP if args.transport == "mse" else [])]
    result: dict[str, Any] = {"load_before": os.getloadavg(), "settings": vars(args), "runs": []}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
            context = await browser.new_context()
            login = await context.new_page()
            await login.goto(f"{relay.base_url}/login?token={relay.token}")
            await login.close()
            for i in range(args.runs):
                run = await one_run(context, relay, args)
                print(f"run {i + 1}: {json.dumps(run)}", file=sys.stderr, flush=True)
                result["runs"].append(run)
            await browser.close()
    finally:
        relay.close()
    p50s = [r["capture_to_presented"]["p50_ms"] for r in result["runs"]]
    p95s = [r["capture_to_presented"]["p95_ms"] for r in result["runs"]]
    result["median"] = {
        "capture_to_presented_p50_ms": statistics.median(p50s),
        "capture_to_presented_p95_ms": statistics.median(p95s),
        "fps": statistics.median(r["fps"] for r in result["runs"]),
    }
    result["load_after"] = os.getloadavg()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="the window of each run")
    parser.add_argument("--rung", default="720p")
    parser.add_argument("--transport", choices=("mse", "webrtc"), default="mse")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
