#!/usr/bin/env python3
"""Janus scale benchmark: the relay's CPU while Janus serves N viewers of its RTP output.

    .venv/bin/python scripts/bench_janus.py [--viewers 200] [--runs 3] [--seconds 10]
        [--workers 4] [--size 1280x720] [--rendition 720p] [--event-loops 2]

It starts Debian's janus (streaming plugin, one RTP mountpoint; scripts/janus_process.py)
and a relay (`python -m relay serve`, a sim source with one rung) whose `rtp://` output
feeds the mountpoint. Then, --runs times, it alternates two conditions on the same relay
and Janus: 0 Janus viewers, then N viewers that join Janus through its HTTP API from
--workers processes (one more process holds a viewer that decodes the frames and reads
the sim's frame marks). Over a window of --seconds in each condition it measures, from
/proc, the CPU of the relay (its process and its children: the output's pusher), of its
simulated drone (the src-* threads: on a flight that is the drone's work), of Janus and
of the viewers' processes; Janus's own count of viewers; packets, bytes and frames per
viewer; the relay output's frames and drops. It prints ONE JSON object: medians over the
runs of each condition, and the ratio of the relay's CPU with N viewers to that with 0.

The machine's other load competes with all of it: the figures carry `uptime`'s load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.janus_process import MOUNTPOINT, Janus, JanusMissing, JanusWatcher  # noqa: E402
from scripts.janus_viewers import worker  # noqa: E402
from scripts.proc_cpu import cpu_s, relay_cpu  # noqa: E402
from scripts.relay_process import RelayProcess  # noqa: E402

SETTLE_S = 3.0  # from the last join (or the last leave) to the window
JOIN_WAIT_S = 120.0  # for the workers to start, beyond the joins' own time
JOIN_RATE = 15.0  # viewers a second, as tablets come online


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start_relay(port: int, size: str, rendition: str) -> RelayProcess:
    relay = RelayProcess(
        f"""
[[streams]]
name = "demo"
source = "sim://?size={size}&fps=30&gop=30"
renditions = ["{rendition}"]
[[streams.outputs]]
url = "rtp://127.0.0.1:{port}?pt=96"
rendition = "{rendition}"
""",
        prefix="bench-janus-",
        log_level="warning",
    )
    relay.launch("bench_janus", 60, live=True)
    return relay


def output_status(relay: RelayProcess) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(relay.get("/api/streams/demo"))["outputs"][0]
    return status


def janus_viewers(engine: Janus) -> int:
    async def ask() -> int:
        watcher = JanusWatcher(engine.url)
        try:
            info = await watcher.mountpoint_info(MOUNTPOINT)
        finally:
            await watcher.leave()
        return int(info.get("viewers", -1))

    return asyncio.run(ask())


def phase(
    relay: RelayProcess, engine: Janus, n: int, seconds: float, workers: int, nice: int
) -> dict[str, Any]:
    """One window with n Janus viewers (0: none), measured."""
    ctx = mp.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Queue()
    # The window, shared with the workers (monotonic clock, the same in every process):
    # set once every viewer has joined, however long a loaded machine takes for that.
    window = ctx.RawArray("d", [math.inf, math.inf])
    procs = []
    if n:
        join_s = n / JOIN_RATE
        t0 = time.monotonic() + 4.0  # the workers start (imports); late ones join at once
        plan = [("sample", [t0])]
        for i in range(workers):
            share = list(range(i, n - 1, workers))
            if share:
                plan.append(("count", [t0 + join_s * (j + 1) / n for j in share]))
        for kind, joins in plan:
            args = (kind, engine.url, joins, window, out, ready, nice)
            p = ctx.Process(target=worker, args=args)
            p.start()
            procs.append(p)
        with contextlib.suppress(queue.Empty):
            for _ in procs:
                ready.get(timeout=JOIN_WAIT_S + 3 * join_s)
    window[0] = time.monotonic() + SETTLE_S
    window[1] = window[0] + seconds
    clients = [p.pid or 0 for p in procs]
    time.sleep(max(0.0, window[0] - time.monotonic()))
    output0 = output_status(relay)
    r0, j0, c0, at0 = (
        relay_cpu(relay.pid),
        cpu_s([engine.proc.pid]),
        cpu_s(clients),
        time.monotonic(),
    )
    load_in = load()
    time.sleep(max(0.0, window[1] - time.monotonic()))
    r1, j1, c1, at1 = (
        relay_cpu(relay.pid),
        cpu_s([engine.proc.pid]),
        cpu_s(clients),
        time.monotonic(),
    )
    output1 = output_status(relay)
    in_janus = janus_viewers(engine)
    reports: list[dict[str, Any]] = []
    for _ in procs:
        reports += out.get(timeout=120)
    for p in procs:
        p.join(timeout=30)
    span = at1 - at0
    relay_cores = (r1["total"] - r0["total"]) / span
    sim_cores = (r1["sim"] - r0["sim"]) / span
    output_cores = (r1["children"] - r0["children"]) / span
    counting = [r for r in reports if r["kind"] == "count"]
    sample = [r for r in reports if r["kind"] == "sample"]
    return {
        "viewers": n,
        "load": load_in,
        "relay_cores": round(relay_cores, 4),
        "relay_cores_without_sim": round(relay_cores - sim_cores, 4),
        "output_process_cores": round(output_cores, 4),
        "janus_cores": round((j1 - j0) / span, 4),
        "viewer_processes_cores": round((c1 - c0) / span, 4),
        "janus_viewers": in_janus,
        "viewers_connected": sum(1 for r in reports if r["connected"]),
        "viewers_with_packets": sum(1 for r in counting if r["packets"]),
        "packets_per_viewer": statistics.median(r["packets"] for r in counting) if counting else 0,
        "min_packets_per_viewer": min((r["packets"] for r in counting), default=0),
        "mbps_per_viewer": round(
            statistics.median(r["bytes"] for r in counting) * 8 / span / 1e6, 3
        )
        if counting
        else 0.0,
        "fps_per_viewer_min": round(min((r["fps"] for r in counting), default=0.0), 2),
        "lost_packets": sum(r["lost_packets"] for r in counting),
        "sample": sample[0] if sample else None,
        # The relay's work in the window: a starved machine lowers the sim's frame rate,
        # and with it the relay's CPU, which would flatter the ratio.
        "output_fps": round((output1["frames"] - output0["frames"]) / span, 2),
        # CPU per frame sent: the relay's work with the machine's starvation taken out.
        "relay_ms_per_frame": round(
            1000 * relay_cores * span / max(1, output1["frames"] - output0["frames"]), 3
        ),
        "output_dropped": output1["dropped"] - output0["dropped"],
        "output_state": output1["state"],
    }


def median_of(phases: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(p[key] for p in phases)), 4)


def pair_ratios(zero: list[dict[str, Any]], many: list[dict[str, Any]], key: str) -> float:
    """The median over the runs of (N window / the 0 window before it)."""
    ratios = [m[key] / z[key] for z, m in zip(zero, many, strict=True)]
    return round(float(statistics.median(ratios)), 4)


def summary(n: int, zero: list[dict[str, Any]], many: list[dict[str, Any]]) -> dict[str, Any]:
    relay0, relay_n = median_of(zero, "relay_cores"), median_of(many, "relay_cores")
    own0, own_n = (
        median_of(zero, "relay_cores_without_sim"),
        median_of(many, "relay_cores_without_sim"),
    )
    janus0, janus_n = median_of(zero, "janus_cores"), median_of(many, "janus_cores")
    mbps = median_of(many, "mbps_per_viewer")
    return {
        "viewers": n,
        "runs": len(many),
        "relay_cores_0": relay0,
        f"relay_cores_{n}": relay_n,
        "relay_ratio": round(relay_n / relay0, 4),
        "relay_cores_without_sim_0": own0,
        f"relay_cores_without_sim_{n}": own_n,
        "relay_ratio_without_sim": round(own_n / own0, 4),
        "relay_ms_per_frame_0": median_of(zero, "relay_ms_per_frame"),
        f"relay_ms_per_frame_{n}": median_of(many, "relay_ms_per_frame"),
        # Each N window against the 0 window just before it: the machine's other load
        # drifts over minutes, and neighbouring windows share most of it.
        "relay_ratio_by_pair": pair_ratios(zero, many, "relay_cores"),
        "relay_ratio_per_frame_by_pair": pair_ratios(zero, many, "relay_ms_per_frame"),
        "output_process_cores": median_of(zero + many, "output_process_cores"),
        "janus_cores_0": janus0,
        f"janus_cores_{n}": janus_n,
        "janus_ms_cpu_per_viewer_second": round((janus_n - janus0) / n * 1000, 3),
        "viewer_processes_cores": median_of(many, "viewer_processes_cores"),
        "janus_viewers": [p["janus_viewers"] for p in many],
        "janus_viewers_when_0": [p["janus_viewers"] for p in zero],
        "viewers_connected": [p["viewers_connected"] for p in many],
        "viewers_with_packets": [p["viewers_with_packets"] for p in many],
        "packets_per_viewer": median_of(many, "packets_per_viewer"),
        "min_packets_per_viewer": min(p["min_packets_per_viewer"] for p in many),
        "mbps_per_viewer": mbps,
        "janus_mbps_out": round(mbps * n, 1),
        "fps_per_viewer_min": min(p["fps_per_viewer_min"] for p in many),
        "lost_packets": sum(p["lost_packets"] for p in many),
        "output_fps_0": median_of(zero, "output_fps"),
        f"output_fps_{n}": median_of(many, "output_fps"),
        "output_dropped": sum(p["output_dropped"] for p in zero + many),
        "sample_viewers": [p["sample"] for p in many],
        "load": [p["load"] for p in zero + many],
        "phases": zero + many,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=200, help="Janus viewers (besides 0)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of windows (0, N)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each measurement window")
    parser.add_argument("--workers", type=int, default=4, help="processes of counting viewers")
    parser.add_argument("--size", default="1280x720", help="the sim's picture size")
    parser.add_argument("--rendition", default="360p", help="the rung the output carries")
    parser.add_argument(
        "--event-loops", type=int, default=2, help="Janus's event_loops (0: a thread per viewer)"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=5,
        help="niceness of Janus and the viewers (other machines in a deployment)",
    )
    args = parser.parse_args()
    if args.viewers < 2 or args.runs < 1 or args.seconds <= 0 or args.workers < 1:
        parser.error("--viewers >= 2; --runs, --seconds and --workers must be positive")
    try:
        engine = Janus(args.event_loops, args.nice)
    except JanusMissing as exc:
        print(f"bench_janus: {exc}", file=sys.stderr)
        return 2
    try:
        relay = start_relay(engine.video_port, args.size, args.rendition)
        try:
            zero, many = [], []
            for _ in range(args.runs):
                zero.append(phase(relay, engine, 0, args.seconds, args.workers, args.nice))
                many.append(
                    phase(relay, engine, args.viewers, args.seconds, args.workers, args.nice)
                )
        finally:
            relay.close()
    finally:
        engine.stop()
    print(json.dumps(summary(args.viewers, zero, many)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
