#!/usr/bin/env python3
"""LTE benchmark (issue 17): the relay's own player, in headless Chromium, behind an
emulated LTE link, read at the glass.

    sudo .venv/bin/python scripts/bench_lte.py [--runs 3] [--seconds 25]
        [--links clean,good,weak,edge,outage] [--renditions 720p,360p,240p]
    sudo .venv/bin/python scripts/bench_lte.py --cleanup

As root it builds a network namespace for the tablet, joined to the relay by a link made
of two TUN devices and a forwarder process (scripts/lte/link.py: delay ± jitter, random
loss, both directions, and cuts), with tc tbf on the downlink (the rate, a 100 ms queue);
this kernel has no netem. It runs the relay (`python -m relay serve`, the sim at 720p)
on the relay end, and Chromium inside the namespace (Playwright starts a wrapper that runs
`ip netns exec NS /usr/bin/chromium`). Chromium opens /play/demo ("Auto"); an injected
script (scripts/lte/glass.js) reads the sim's frame marks from every presented frame:
capture time (in the marks) -> presented time (performance.timeOrigin + now).

Links: clean; good LTE 3 Mbit/s 40±10 ms 0.5 %; weak LTE 1 Mbit/s 80±20 ms 2 %; edge of
cell 400 kbit/s 150±40 ms 5 %; outage: weak LTE cut for 8 s mid-run. Delay and loss apply
to each direction. Per link and run: the rung timeline (the relay's viewer status, polled
each second), fps, delay p50/p95, freezes, the relay's sent/retransmitted packets (null
where the relay does not publish them) and the browser's receive counters, the recovery
time after the cut; then the medians of the runs and pass/fail against issue 17's goals.
Prints ONE JSON object. Namespaces and devices are removed on exit (and by --cleanup after
a crash).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from lte.netns import Tablet, cleanup, netem_available  # noqa: E402
from lte.player_run import OUTAGE_S, Link, run_once  # noqa: E402
from lte.relay_proc import RelayProcess  # noqa: E402

from relay.config.model import RUNGS  # noqa: E402
from scripts.relay_process import free_port  # noqa: E402

LINKS = {
    "clean": Link(None),
    "good": Link(3_000_000, 40, 10, 0.005),
    "weak": Link(1_000_000, 80, 20, 0.02),
    "edge": Link(400_000, 150, 40, 0.05),
    "outage": Link(1_000_000, 80, 20, 0.02, outage_s=OUTAGE_S),
}
GOALS = {
    "clean": "none (reference)",
    "good": "720p >= 90 % of the time, p95 <= 200 ms",
    "weak": "360p or better >= 90 % of the time, >= 28 fps, p95 <= 250 ms",
    "edge": ">= 15 fps, p95 <= 400 ms, no freeze over 1 s",
    "outage": "picture back <= 1.5 s after the link returns, without a reconnect",
}
MEDIAN_KEYS = (
    "fps",
    "fps_read",
    "delay_p50_ms",
    "delay_p95_ms",
    "freezes",
    "longest_freeze_s",
    "frozen_s",
    "first_frame_s",
    "recovery_s",
    "whep_posts",
)


def share_at_least(shares: dict[str, float], rung: str) -> float:
    """Share of the time on `rung` or a better one (passthrough counts as the best)."""
    floor = RUNGS[rung].height
    return sum(s for r, s in shares.items() if r not in RUNGS or RUNGS[r].height >= floor)


def median(values: list[Any]) -> Any:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def summarise(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    m: dict[str, Any] = {k: median([r.get(k) for r in runs]) for k in MEDIAN_KEYS}
    m["share_720p"] = median([share_at_least(r["rung_share"], "720p") for r in runs])
    m["share_360p_or_better"] = median([share_at_least(r["rung_share"], "360p") for r in runs])
    m["end_rung"] = [r["rungs"][-1][1] if r["rungs"] else None for r in runs]
    for key in ("video_packets", "retransmitted_packets"):
        m[key] = median([r["sent"].get(key) for r in runs])
    for key in ("nack_count", "retransmitted_packets_received", "packets_received"):
        m[f"browser_{key}"] = median([(r["browser"] or {}).get(key) for r in runs])
    return {"goal": GOALS[name], "pass": verdict(name, m), "median": m, "runs": runs}


def verdict(name: str, m: dict[str, Any]) -> bool | None:
    def le(v: Any, limit: float) -> bool:
        return v is not None and v <= limit

    if name == "good":
        return m["share_720p"] >= 0.9 and le(m["delay_p95_ms"], 200)
    if name == "weak":
        return m["share_360p_or_better"] >= 0.9 and m["fps"] >= 28 and le(m["delay_p95_ms"], 250)
    if name == "edge":
        return m["fps"] >= 15 and le(m["delay_p95_ms"], 400) and le(m["longest_freeze_s"], 1.0)
    if name == "outage":
        return le(m["recovery_s"], 1.5) and m["whep_posts"] == 1
    return None


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "netem_available": netem_available(),
        "load_before": os.getloadavg(),
        "settings": {"runs": args.runs, "seconds": args.seconds, "renditions": args.renditions},
        "links": {},
    }
    tablet = Tablet()
    relay: RelayProcess | None = None
    # Ctrl-C or a kill: end the runs through the finally below, so nothing is left behind
    # (a background shell ignores SIGINT, hence SIGTERM too).
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    try:
        tablet.open()
        relay = RelayProcess(
            tablet.relay_addr,
            args.port or free_port(),
            args.renditions,
            log_file=Path(args.relay_log) if args.relay_log else None,
        )
        await relay.wait_serving()
        for name in args.links:
            runs = []
            for i in range(args.runs):
                result = await run_once(tablet, relay, LINKS[name], args.seconds)
                result["load"] = os.getloadavg()[0]
                runs.append(result)
                print(f"{name} run {i + 1}: {json.dumps(result)[:300]}", file=sys.stderr)
            out["links"][name] = summarise(name, runs)
    finally:
        if relay is not None:
            relay.close()
        tablet.close()
    out["load_after"] = os.getloadavg()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each run")
    parser.add_argument(
        "--links", default=",".join(LINKS), help="comma-separated, of " + ", ".join(LINKS)
    )
    parser.add_argument("--renditions", default="720p,360p,240p", help="the stream's ladder")
    parser.add_argument("--port", type=int, default=0, help="the relay's (default: a free one)")
    parser.add_argument("--relay-log", help="keep the relay's log in this file")
    parser.add_argument("--cleanup", action="store_true", help="remove what crashed runs left")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_lte.py needs root (network namespaces, TUN devices, tc)", file=sys.stderr)
        return 2
    if args.cleanup:
        print(json.dumps({"removed": cleanup()}))
        return 0
    args.links = [x for x in args.links.split(",") if x]
    args.renditions = [x for x in args.renditions.split(",") if x]
    unknown = [x for x in args.links if x not in LINKS]
    if unknown or args.runs < 1 or args.seconds < 5:
        print(
            f"bad arguments: unknown links {unknown} or --runs < 1 or --seconds < 5",
            file=sys.stderr,
        )
        return 2
    cleanup()
    started = time.monotonic()
    result = asyncio.run(bench(args))
    result["wall_s"] = round(time.monotonic() - started)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
