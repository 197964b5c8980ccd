#!/usr/bin/env python3
"""Event-loop lag benchmark: does incident work (start, stop, snapshot, clip export) stall
the relay's event loop while viewers watch?

    .venv/bin/python scripts/bench_looplag.py [--viewers 50] [--seconds 20] [--workers 3]
        [--size 1280x720] [--source drone|sim]

It starts a relay (`python -m relay serve`, one stream, one 720p rung) as its own
process, fed by the fake drone's MPEG-TS over UDP from another process (--source drone, as on
a flight: the drone encodes, the relay ingests) or by the relay's own sim (--source sim: the
picture is drawn and encoded inside the relay process, which a real flight never does).
It lets --viewers WHEP viewers join (tests/whep_client.py peers, from worker processes, as
scripts/bench_fanout.py runs them), then runs three phases of --seconds each:
  watch      the viewers only
  incidents  a long incident starts; short incidents start, snapshot and stop, one after
             the other; the long one's detail is read each time
  clips      clip exports of the long incident (15 s each, back to back), then its stop
The relay measures its own loop lag (relay.looplag: a 10 ms ticker, `relay_loop_lag_seconds`
in /metrics); the phase's figures come from the histogram's counts at its start and end:
p50/p99 interpolated within a bucket, and the bucket bound under which the worst tick fell.
A control process runs the same ticker and nothing else: its p99 per phase
(`control_p99_ms`) says how much lag the machine alone caused (other processes' load).
It prints one JSON object. Goal: p99 <= 20 ms in every phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from relay.looplag import TICK_S  # noqa: E402
from relay.threads import cpu_seconds_by_thread  # noqa: E402
from scripts.fanout_viewers import worker  # noqa: E402  (the viewers: counting WHEP peers)
from scripts.relay_process import ROOT, RelayProcess, free_port  # noqa: E402

STREAM = "demo"
SIZES = ("1280x720", "640x360")  # the sim's; the viewers (bench_fanout's) watch "720p"


class Relay(RelayProcess):
    """The relay under test, as its own process, with an admin token and a recordings folder."""

    def __init__(
        self, size: str, viewers: int, udp_port: int | None = None, load_nice: int = 0
    ) -> None:
        """`udp_port`: the stream is MPEG-TS pushed there (by the fake drone, in its own
        process, as on a flight, at nice `load_nice`); without, the relay's sim draws and
        encodes it inside the relay process, whose GIL that takes."""
        self.load_nice = load_nice
        self.rung = "720p"  # at most 1280x720: a smaller source is encoded at its own size
        source = f"udp://127.0.0.1:{udp_port}" if udp_port else f"sim://?size={size}&fps=30&gop=30"
        super().__init__(
            f"""
[[streams]]
name = "{STREAM}"
source = "{source}"
renditions = ["{self.rung}"]
""",
            limits={
                "max_viewers_per_stream": viewers + 10,
                "max_viewers": viewers + 10,
                # All viewers come from one address and one token: the per-address and
                # per-identity limits would refuse joins that a loaded machine holds unconnected.
                "max_unconnected_per_address": viewers + 10,
                "max_viewers_per_identity": viewers + 10,
            },
            prefix="bench-looplag-",
            log_level="warning",
        )
        self.drone: subprocess.Popen[bytes] | None = None
        if udp_port:
            self.start()
            self.drone = subprocess.Popen(
                [
                    sys.executable,
                    str(ROOT / "scripts" / "fake_drone.py"),
                    "--size",
                    size,
                    "--bitrate",
                    "3000000",
                    f"udp://127.0.0.1:{udp_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=lambda: os.nice(self.load_nice),
            )
            try:
                self.wait_ready(60, live=True)
            except RuntimeError as exc:
                self.close()
                raise SystemExit(f"bench_looplag: {exc}") from None
        else:
            self.launch("bench_looplag", 30, live=True)

    def close(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.drone is not None:
            self.drone.terminate()
            self.drone.wait(10)
            self.drone = None
        super().close(sig, timeout)

    def lag_buckets(self) -> dict[float, int]:
        """The loop lag histogram's cumulative counts by upper bound (ms; inf last)."""
        text = self.call("GET", "/metrics")[1].decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("relay_loop_lag_seconds_bucket{"):
                bound = line.split('le="', 1)[1].split('"', 1)[0]
                ms = float("inf") if bound == "+Inf" else round(float(bound) * 1000, 3)
                out[ms] = int(float(line.split()[-1]))
        return out


def lag_figures(before: dict[float, int], after: dict[float, int]) -> dict[str, Any]:
    """p50/p99 (linear within a bucket) and the worst tick's bucket, between two scrapes."""
    bounds = sorted(after)
    cumulative = [after[b] - before.get(b, 0) for b in bounds]
    total = cumulative[-1]

    def quantile(q: float) -> float | None:
        if total == 0:
            return None
        rank = q * total
        lower, below = 0.0, 0
        for bound, count in zip(bounds, cumulative, strict=True):
            if count >= rank:
                if bound == float("inf"):
                    return lower
                inside = count - below
                return round(lower + (bound - lower) * (rank - below) / max(1, inside), 2)
            lower, below = bound, count
        return None

    worst = next((b for b, c in zip(bounds, cumulative, strict=True) if c == total), None)
    p99 = quantile(0.99)
    return {
        "ticks": total,
        "p50_ms": quantile(0.5),
        "p99_ms": p99,
        # null: beyond the last bucket (1 s)
        "max_le_ms": None if worst == float("inf") else worst,
        "over_20ms": total - cumulative[bounds.index(20.0)] if 20.0 in bounds else None,
    }


def incidents_phase(relay: Relay, seconds: float) -> tuple[str, dict[str, list[float]]]:
    """Starts the long incident, then short ones (start, snapshot, stop) back to back."""
    timings: dict[str, list[float]] = {"start": [], "snapshot": [], "stop": [], "detail": []}
    status, body, took = relay.call(
        "POST", "/api/incidents", {"title": "long", "streams": [STREAM]}
    )
    assert status == 201, body
    long_id = json.loads(body)["id"]
    timings["start"].append(took)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _, body, took = relay.call(
            "POST", "/api/incidents", {"title": "short", "streams": [STREAM]}
        )
        short_id = json.loads(body)["id"]
        timings["start"].append(took)
        time.sleep(1.0)
        status, _, took = relay.call(
            "POST", f"/api/incidents/{short_id}/snapshots", {"stream": STREAM}
        )
        if status == 201:
            timings["snapshot"].append(took)
        time.sleep(0.5)
        timings["stop"].append(relay.call("POST", f"/api/incidents/{short_id}/stop")[2])
        timings["detail"].append(relay.call("GET", f"/api/incidents/{long_id}")[2])
    return long_id, timings


def clips_phase(relay: Relay, long_id: str, seconds: float) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"clip": [], "stop": [], "refused": []}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, body, took = relay.call(
            "POST", f"/api/incidents/{long_id}/clips", {"stream": STREAM, "from_s": 0, "to_s": 15}
        )
        if status == 409:  # no finished segment yet: wait for one
            timings["refused"].append(took)
            time.sleep(0.5)
            continue
        assert status == 201, body
        timings["clip"].append(took)
    timings["stop"].append(relay.call("POST", f"/api/incidents/{long_id}/stop")[2])
    return timings


def niced_worker(nice: int, *args: Any) -> None:
    """The viewers, at `nice`: on a flight they run on the tablets, not on the relay's box."""
    os.nice(nice)
    worker(*args)


def control_ticker(stop: Any, out: Any) -> None:
    """The control: a bare Python process with nothing but the relay's 10 ms ticker. When it
    lags as much as the relay, the machine (other processes), not the relay, made the lag."""

    async def tick() -> list[tuple[float, float]]:
        loop = asyncio.get_running_loop()
        ticks = []
        out.put("ready")
        while not stop.is_set():
            due = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            ticks.append((loop.time(), max(0.0, (loop.time() - due) * 1000)))
        return ticks

    out.put(asyncio.run(tick()))


def control_p99(ticks: list[tuple[float, float]], start: float, end: float) -> float | None:
    lags = sorted(lag for at, lag in ticks if start <= at < end)
    return round(lags[min(len(lags) - 1, int(0.99 * len(lags)))], 2) if lags else None


def children_cpu_s(pid: int) -> float:
    """CPU seconds of the relay's child processes (its export worker), living ones only."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                total += cpu_seconds_by_thread(child)["total"]
            except OSError:
                continue
    return total


def median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--workers", type=int, default=3, help="viewer processes")
    parser.add_argument("--size", choices=SIZES, default="1280x720")
    parser.add_argument(
        "--source",
        choices=("drone", "sim"),
        default="drone",
        help="drone: the fake drone pushes MPEG-TS over UDP from its own process (as on a "
        "flight); sim: the relay draws and encodes the picture itself",
    )
    parser.add_argument(
        "--load-nice",
        type=int,
        default=10,
        help="nice of the viewers and the drone (on a flight they are other machines; "
        "here they share its cores with the relay): 0 to let them compete as equals",
    )
    args = parser.parse_args()
    if args.viewers < 0 or args.seconds < 5 or args.workers < 1:
        parser.error("need --viewers >= 0, --seconds >= 5, --workers >= 1")

    udp_port = free_port(socket.SOCK_DGRAM) if args.source == "drone" else None
    relay = Relay(args.size, args.viewers, udp_port, args.load_nice)
    procs: list[Any] = []
    try:
        # 10 joins a second: the relay refuses more than 32 unconnected offers per address,
        # and on a loaded machine a join takes seconds to connect.
        join_s = max(1.0, args.viewers / 10)
        t0 = time.monotonic() + 3.0  # workers start and make their offers
        watch_at = t0 + join_s + 3.0
        window = (watch_at, watch_at + 3 * args.seconds + 120)  # the viewers stay to the end
        # Counting viewers only (full ICE + DTLS peers that count RTP without decrypting or
        # decoding): the relay sends to them as to any viewer, and the clients stay light.
        per = -(-args.viewers // args.workers) if args.viewers else 0
        plan = [("count", min(per, args.viewers - i * per)) for i in range(args.workers)]
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        offset = 0
        for kind, count in plan:
            if count <= 0:
                continue
            joins = [t0 + join_s * (offset + i) / args.viewers for i in range(count)]
            offset += count
            p = ctx.Process(
                target=niced_worker,
                args=(args.load_nice, kind, relay.base_url, relay.token, count, joins, window, out),
            )
            p.start()
            procs.append(p)
        time.sleep(max(0.0, watch_at - time.monotonic()))
        deadline = time.monotonic() + 60  # a loaded machine joins slower
        while True:
            joined = json.loads(relay.call("GET", f"/api/streams/{STREAM}")[1])["viewers"]
            if joined >= args.viewers or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        load_before = os.getloadavg()[0]
        control_out, control_stop = ctx.Queue(), ctx.Event()
        control = ctx.Process(target=control_ticker, args=(control_stop, control_out))
        control.start()
        procs.append(control)
        assert control_out.get(timeout=120) == "ready"
        marks = [time.monotonic()]
        cpu_before, cpu_at = cpu_seconds_by_thread(relay.pid)["total"], time.monotonic()
        workers_before = children_cpu_s(relay.pid)

        phases: dict[str, Any] = {}
        before = relay.lag_buckets()
        time.sleep(args.seconds)
        after = relay.lag_buckets()
        phases["watch"] = lag_figures(before, after)
        marks.append(time.monotonic())

        before = after
        long_id, timings = incidents_phase(relay, args.seconds)
        after = relay.lag_buckets()
        phases["incidents"] = {
            **lag_figures(before, after),
            **{f"{k}_ms_median": median_ms(v) for k, v in timings.items()},
            "short_incidents": len(timings["stop"]),
        }
        marks.append(time.monotonic())

        before = after
        timings = clips_phase(relay, long_id, args.seconds)
        after = relay.lag_buckets()
        phases["clips"] = {
            **lag_figures(before, after),
            "clips": len(timings["clip"]),
            "clips_refused_no_segment_yet": len(timings["refused"]),
            "clip_15s_ms_median": median_ms(timings["clip"]),
            "stop_ms": median_ms(timings["stop"]),
        }
        marks.append(time.monotonic())
        control_stop.set()
        ticks = control_out.get(timeout=60)
        for name, start, end in zip(phases, marks, marks[1:], strict=False):
            phases[name]["control_p99_ms"] = control_p99(ticks, start, end)
        cpu_cores = (cpu_seconds_by_thread(relay.pid)["total"] - cpu_before) / (
            time.monotonic() - cpu_at
        )
        worker_cores = (children_cpu_s(relay.pid) - workers_before) / (time.monotonic() - cpu_at)
        status = json.loads(relay.call("GET", f"/api/streams/{STREAM}")[1])
        p99s = [p["p99_ms"] for p in phases.values() if p["p99_ms"] is not None]
        result = {
            "viewers_asked": args.viewers,
            "viewers_joined": joined,
            "viewers_at_end": status["viewers"],
            "source": f"{args.source} {args.size}@30, rung {relay.rung}",
            "phase_s": args.seconds,
            "load_nice": args.load_nice,
            "phases": phases,
            "p99_ms_worst_phase": max(p99s) if p99s else None,
            "goal_p99_ms": 20,
            "pass": bool(p99s) and max(p99s) <= 20,
            "rendition_dropped_packets": sum(r["dropped"] for r in status["rendition_stats"]),
            # The figures mean little on a machine busy with other work: say how busy it was.
            "relay_cpu_cores": round(cpu_cores, 2),
            # its export worker process (clips, snapshots), which has its own GIL
            "relay_worker_cpu_cores": round(worker_cores, 2),
            "machine_load_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            "cpu_count": os.cpu_count(),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=10)
        relay.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
