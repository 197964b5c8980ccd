#!/usr/bin/env python3
"""Fan-out benchmark: how many WebRTC viewers one relay carries, and what each one sees.

    .venv/bin/python scripts/bench_fanout.py [--viewers 1,10,50,100,150] [--seconds 10]
        [--workers 3] [--first-frame-joins 20] [--runs 1]

For each N it starts a fresh relay (`python -m relay serve`, sim 1280x720@30, one 720p rung
at 2 Mbit/s), lets N WHEP viewers join from separate worker processes and measures, over a
window of --seconds once all have joined:
  relay CPU in cores (utime+stime from /proc), RSS and its growth per viewer,
  per-viewer fps (min, median) and frames lost (RTP sequence gaps),
  delay capture -> receipt p50/p95, read from the burned-in capture time,
  time from POST to first frame p50/p95.
It prints one JSON object per N. Then, with --first-frame-joins J, a relay whose source has
a 4 s GOP gets J joins spread over that GOP; each viewer decodes, and POST -> first decoded
frame p50/p95 is printed as one more JSON object.

Two kinds of viewer keep the clients' own cost from drowning the relay on a 2-core machine:
up to 2 "sample" viewers per N are full aiortc peers that decrypt, decode and read the frame
marks (delay); the rest are "counting" viewers: full ICE + DTLS peers that count RTP packets
and frames from the clear RTP header (SRTP leaves it unencrypted) without decrypting or
decoding. The relay cannot tell them apart: it encrypts and sends the same for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.threads import cpu_seconds_by_thread  # noqa: E402
from scripts.fanout_viewers import worker  # noqa: E402
from scripts.relay_process import RelayProcess  # noqa: E402
from tests.whep_client import WhepViewer  # noqa: E402  (after the path is set)

SAMPLE_VIEWERS = 2  # each decodes 720p30: two keep the clients light enough


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of the process, in all and per stage, from its threads' OS names
    (relay.threads names them: src-* the source, dec-* decode, enc-* the rung encoders and
    the x264 threads they start; the rest is the event loop and aiortc: the fan-out)."""
    by_thread = cpu_seconds_by_thread(pid)
    groups = {"total": by_thread.pop("total"), "src": 0.0, "dec": 0.0, "enc": 0.0}
    for name, seconds in by_thread.items():
        group = name.split("-", 1)[0]
        if group in groups:
            groups[group] += seconds
    return groups


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def start_relay(gop: int, max_viewers: int) -> RelayProcess:
    """The relay under test, as its own process, with one 720p30 sim stream, live."""
    limits = ("max_viewers_per_stream", "max_viewers", "max_viewers_per_identity")
    relay = RelayProcess(
        f"""
[[streams]]
name = "demo"
source = "sim://?size=1280x720&fps=30&gop={gop}"
renditions = ["720p"]
""",
        role="viewer",
        streams=["demo"],
        limits=dict.fromkeys((*limits, "max_unconnected_per_address"), max_viewers),
        prefix="bench-fanout-",
        log_level="warning",
    )
    relay.launch("bench_fanout", 30, live=True)
    return relay


def dropped_packets(relay: RelayProcess) -> int:
    """Packets the relay skipped for viewers that fell behind (their queues overflowed):
    frames a viewer never got without any RTP sequence gap showing it."""
    status = json.loads(relay.get("/api/streams/demo"))
    return sum(int(s["dropped"]) for s in status["rendition_stats"])


# ---------------------------------------------------------------- one figure per N


def measure(n: int, seconds: float, workers: int) -> dict[str, Any]:
    relay = start_relay(gop=30, max_viewers=max(10, n + 10))
    try:
        time.sleep(1.0)
        rss_before = relay.rss_mb()
        # Joins spread out as tablets would come online, under the relay's offer budget
        # (20 a second: relay/api/sdp_exchange.py; faster, the rest get 503 busy).
        join_s = max(1.0, n / 15)
        t0 = time.monotonic() + 2.0  # time for workers to start and make their offers
        window = (t0 + join_s + 3.0, t0 + join_s + 3.0 + seconds)
        samples = min(SAMPLE_VIEWERS, n)
        counting = n - samples
        plan: list[tuple[str, int]] = [("sample", samples)]
        per = -(-counting // workers) if counting else 0
        for i in range(workers):
            share = min(per, counting - i * per)
            if share > 0:
                plan.append(("count", share))
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = []
        offset = 0
        for kind, count in plan:
            joins = [t0 + join_s * (offset + i) / max(1, n) for i in range(count)]
            offset += count
            p = ctx.Process(
                target=worker, args=(kind, relay.base_url, relay.token, count, joins, window, out)
            )
            p.start()
            procs.append(p)
        time.sleep(max(0.0, window[0] - time.monotonic()))
        cpu0, at0 = cpu_seconds(relay.pid), time.monotonic()
        clients0 = sum(cpu_seconds(p.pid or 0)["total"] for p in procs)
        time.sleep(max(0.0, window[1] - time.monotonic()))
        cpu1, at1 = cpu_seconds(relay.pid), time.monotonic()
        clients1 = sum(cpu_seconds(p.pid or 0)["total"] for p in procs)
        rss_after = relay.rss_mb()
        dropped = dropped_packets(relay)
        reports: list[dict[str, Any]] = []
        for _ in procs:
            reports += out.get(timeout=120)
        for p in procs:
            p.join(timeout=30)
    finally:
        relay.close()
    fps = [r["fps"] for r in reports]
    frames = sum(r["frames"] for r in reports)
    lost = sum(r["lost_frames"] for r in reports)
    delays = [d for r in reports for d in r["delays_ms"]]
    first = [r["first_frame_s"] * 1000 for r in reports if r["first_frame_s"] is not None]
    cores = {k: round((cpu1[k] - cpu0[k]) / (at1 - at0), 3) for k in cpu0}
    return {
        "viewers": n,
        "reporting": len(reports),
        "window_s": seconds,
        "relay_cpu_cores": cores["total"],
        # The simulated drone (render + its own x264) runs inside the relay process; on a
        # real flight that work is the drone's. Shown apart so the relay's own share is clear.
        "sim_drone_cores": cores["src"],
        "relay_cpu_cores_without_sim": round(cores["total"] - cores["src"], 3),
        "transcode_cores": round(cores["dec"] + cores["enc"], 3),
        "fanout_cores": round(cores["total"] - cores["src"] - cores["dec"] - cores["enc"], 3),
        # The viewers' processes share the same two cores: when relay + viewers near 2.0,
        # the machine, not the relay, limits what the viewers see.
        "viewer_processes_cores": round((clients1 - clients0) / (at1 - at0), 3),
        "relay_rss_mb": round(rss_after, 1),
        "rss_growth_per_viewer_mb": round((rss_after - rss_before) / n, 3),
        "fps_min": round(min(fps), 2) if fps else None,
        "fps_median": round(statistics.median(fps), 2) if fps else None,
        "frames_lost": lost,
        "frame_loss_pct": round(100 * lost / max(1, frames + lost), 3),
        "relay_dropped_packets": dropped,
        "delay_ms_p50": quantile(delays, 0.5),
        "delay_ms_p95": quantile(delays, 0.95),
        "first_frame_ms_p50": quantile(first, 0.5),
        "first_frame_ms_p95": quantile(first, 0.95),
    }


async def first_frames(base_url: str, token: str, joins: int, gop_s: float) -> list[float]:
    results = []
    for _ in range(joins):
        viewer = WhepViewer(base_url, "demo", rendition="720p", token=token)
        await viewer.prepare()
        # Joins land at every phase of the source's GOP (the transcoder's rung must not care).
        await asyncio.sleep(gop_s / joins * 1.07)
        await viewer.post()
        try:
            await viewer.wait_frames(1, timeout=10)
            if viewer.received.first_frame_s is not None:
                results.append(viewer.received.first_frame_s * 1000)
        finally:
            await viewer.close()
    return results


def measure_first_frame(joins: int) -> dict[str, Any]:
    relay = start_relay(gop=120, max_viewers=50)  # a 4 s source GOP, as drones send
    try:
        times = asyncio.run(first_frames(relay.base_url, relay.token, joins, 4.0))
    finally:
        relay.close()
    return {
        "first_frame": True,
        "source_gop_s": 4.0,
        "joins": joins,
        "decoded": len(times),
        "first_frame_ms_p50": quantile(times, 0.5),
        "first_frame_ms_p95": quantile(times, 0.95),
        "first_frame_ms_max": quantile(times, 1.0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--viewers", default="1,10,50,100,150", help="comma-separated viewer counts"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    parser.add_argument("--workers", type=int, default=3, help="processes of counting viewers")
    parser.add_argument("--runs", type=int, default=1, help="runs per N (the median is shown)")
    parser.add_argument("--first-frame-joins", type=int, default=20)
    args = parser.parse_args()
    try:
        counts = [int(v) for v in args.viewers.split(",") if v]
    except ValueError:
        parser.error("--viewers takes numbers like 1,10,50")
    if not counts or min(counts) < 1 or args.seconds <= 0 or args.workers < 1 or args.runs < 1:
        parser.error("viewer counts, --seconds, --workers and --runs must be positive")
    for n in counts:
        runs = [measure(n, args.seconds, args.workers) for _ in range(args.runs)]
        if len(runs) == 1:
            print(json.dumps(runs[0]), flush=True)
            continue
        merged: dict[str, Any] = {"viewers": n, "runs": len(runs)}
        for key, value in runs[0].items():
            if isinstance(value, (int, float)) and key != "viewers":
                merged[key] = statistics.median(r[key] for r in runs if r[key] is not None)
        print(json.dumps(merged), flush=True)
    if args.first_frame_joins:
        print(json.dumps(measure_first_frame(args.first_frame_joins)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
