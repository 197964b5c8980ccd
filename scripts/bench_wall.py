#!/usr/bin/env python3
"""The wall's browser cost (issue 15): Chromium's CPU for the control-room wall with N tiles.

    .venv/bin/python scripts/bench_wall.py [--tiles 4] [--runs 3] [--seconds 10]
        [--source sim://?size=640x360&fps=25&gop=25] [--rung 360p]

One relay (`python -m relay serve`) with --tiles sim streams (rungs 360p and 240p), headless
Chromium at 1920x1080 on /wall (every tile on the smallest rung, 240p). Once every tile
presents frames and SETTLE_S passed, --runs windows of --seconds each: the CPU seconds of
every Chromium process (utime + stime from /proc/PID/stat, the processes that descend from
this script and are named chrom*) over the window, as a percentage of one core; the frames
the tiles presented per second and Chromium's CPU milliseconds per presented frame; the
load (`uptime`). --rung puts every tile on another rung (/wall?rung=...), to compare with
what the smallest rung saves. Medians of the runs; prints ONE JSON object.
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

from scripts.relay_process import RelayProcess  # noqa: E402
from tests.e2e.browser import CHROMIUM, FLAGS  # noqa: E402

SETTLE_S = 3.0
TICK = os.sysconf("SC_CLK_TCK")
PRESENTED = """() => Object.values(window.__wall?.tiles ?? {}).map((t) =>
  ({state: t.state, presented: t.presented, rendition: t.rendition}))"""


def streams_toml(tiles: int, source: str) -> str:
    return "".join(
        f'[[streams]]\nname = "d{i + 1}"\nsource = "{source}"\nrenditions = ["360p", "240p"]\n'
        for i in range(tiles)
    )


def _stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, name, CPU seconds) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), name, (int(fields[11]) + int(fields[12])) / TICK


def chromium_cpu_s(root: int) -> float:
    """CPU seconds of the Chromium processes that descend from `root`."""
    stats = {int(p): s for p in os.listdir("/proc") if p.isdigit() if (s := _stat(int(p)))}
    total = 0.0
    for pid, (_, name, cpu) in stats.items():
        if not name.startswith("chrom"):
            continue
        parent = pid
        while parent > 1 and parent != root:
            parent = stats.get(parent, (1, "", 0.0))[0]
        if parent == root:
            total += cpu
    return total


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    relay = RelayProcess(streams_toml(args.tiles, args.source), prefix="bench-wall-")
    relay.launch("bench_wall", live=True)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.goto(f"{relay.base_url}/login?token={relay.token}")
            await page.goto(relay.base_url + "/wall" + (f"?rung={args.rung}" if args.rung else ""))
            deadline = time.monotonic() + 120
            while True:
                tiles = await page.evaluate(PRESENTED)
                live = [t for t in tiles if t["state"] == "live" and t["presented"] > 5]
                if len(live) == args.tiles:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench_wall: tiles not live after 120 s: {tiles}")
                await asyncio.sleep(0.5)
            await asyncio.sleep(SETTLE_S)
            runs = []
            for _ in range(args.runs):
                cpu0, t0 = chromium_cpu_s(os.getpid()), time.monotonic()
                frames0 = sum(t["presented"] for t in await page.evaluate(PRESENTED))
                await asyncio.sleep(args.seconds)
                cpu1, t1 = chromium_cpu_s(os.getpid()), time.monotonic()
                frames1 = sum(t["presented"] for t in await page.evaluate(PRESENTED))
                runs.append(
                    {
                        "chromium_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
                        "presented_fps_all_tiles": round((frames1 - frames0) / (t1 - t0), 1),
                        # Comparable when a loaded relay delivers fewer frames than asked.
                        "chromium_cpu_ms_per_frame": round(
                            1000 * (cpu1 - cpu0) / max(1, frames1 - frames0), 2
                        ),
                        "load": os.getloadavg()[0],
                    }
                )
            rungs = sorted({t["rendition"] for t in await page.evaluate(PRESENTED)})
            await browser.close()
    finally:
        relay.close()
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {
        "tiles": args.tiles,
        "source": args.source,
        "rungs": rungs,
        "seconds": args.seconds,
        "median": median,
        "runs": runs,
        "cores": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source", default="sim://?size=640x360&fps=25&gop=25")
    parser.add_argument("--rung", default="", help="every tile on this rung (360p or 240p)")
    args = parser.parse_args()
    if not 1 <= args.tiles <= 9 or args.runs < 1 or args.seconds <= 0:
        parser.error("--tiles 1..9, --runs >= 1, --seconds > 0")
    print(json.dumps(asyncio.run(measure(args))))


if __name__ == "__main__":
    main()
