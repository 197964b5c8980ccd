#!/usr/bin/env python3
"""Fleet benchmark: three drones on one small box, recorded and watched.

    .venv/bin/python scripts/bench_fleet.py [--drones 3] [--viewers 20] [--seconds 20]
        [--runs 1] [--load-nice 10] [--meter-nice 0] [--live-encode]
        [--phases aligned|independent] [--alpha-without-bframes]

The relay runs as its own process (`python -m relay serve`) with up to three streams, each
pushed in a process of its own, as a remote controller would. The drones' clips are rendered
ahead (scripts/fake_drone.py --at: the sim scene with frame marks that carry the time each
frame will be pushed) and pushed packet by packet at those times (scripts/clip_push.py), so
the box pays a few percent of a core for the drones instead of their live encoders (which
took 0.7 cores and still missed 30 fps); --live-encode pushes from live fake drones instead.
By default every clip's frame n is captured at the same instant (--phases aligned: all
pictures arrive together and every codec thread wants a core at once, the worst case);
--phases independent gives each drone a capture phase of its own, drawn for each run, as
drones' cameras on clocks of their own have. The fleet:
  alpha: RTMP, 1920x1080 30 fps High profile with B-frames, 6 Mbit/s -> 720p + 360p
  bravo: MPEG-TS over UDP, 1280x720 30 fps, 3 Mbit/s               -> 720p + 360p
  ir:    MPEG-TS over UDP, 640x512 30 fps (a thermal camera's size) -> 360p
An incident records all of them (the original bitstreams). --viewers per drone join, spread
evenly over its rungs: per stream and rung one "sample" viewer decodes and reads the frame
marks the fake drones burn in (delay capture -> decoded; each frame goes to its decoder at
its last packet, as in Chromium, tests/marker_jitter.py), the rest are "counting" viewers
(full ICE + DTLS peers that count frames from the clear RTP headers, scripts/fanout_viewers.py).
On a flight the drones and the viewers are other machines with their own CPUs; here they
share the relay's two cores. The counting viewers are load: they run at nice --load-nice and
take what the relay leaves. The pushers and the sample viewers are the instruments whose
clocks the delay is read from (the pusher sends each packet at its capture time, the sample
viewer times each picture decoded): they run at nice --meter-nice, by default the relay's
own, so that a delay is not their wait behind 50-odd counting peers for the CPU.

Measured over a window of --seconds once everyone has joined: the relay's CPU in cores, in
all and per stream and stage (decode, each rung's scale + encode, and the rest: fan-out and
the event loop), from its threads' names; the pushers' and the viewers' CPU apart (the
sample viewers, which decode, apart from the counting ones); per stream and rung the
viewers' fps (min, median), frames lost, delay p50/p95 and the sample viewer's largest
delay in each second of the window (a steady excess, or episodes; in one rung, or in every
stream at once, which points at the box rather than a stream's chain), and beside
it the relay's own share (read from /api/streams every 2 s: the rung's source packet in ->
ready p50/p95, the viewers' send queues p95), so a delay is placed in the relay or outside
it (the push and ingest framing, the viewer's jitter buffer, decoder and CPU). And whether
the box had room: its idle and stolen (steal) shares, and how long the relay's threads,
ready to run, waited for a core (kernel schedstat), so a missed goal is placed in the relay
or in a box too full for it. Goal on the
2-core box (issue 13): every viewer >= 29 fps, delay p95 <= 150 ms, the relay <= 1.5 cores.
Prints ONE JSON object (medians over --runs where a figure has one; per rung the median of
the runs' delay p95 and the lowest fps in by_rung_over_runs).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.threads import core_wait_seconds_by_thread, cpu_seconds_by_thread  # noqa: E402
from scripts.fanout_viewers import worker  # noqa: E402
from scripts.relay_process import RelayProcess, free_port  # noqa: E402

GOALS = {"fps_min": 29.0, "delay_p95_ms": 150.0, "relay_cores": 1.5}
# A run's time besides joining and its window: the relay's start, the drones' first
# keyframes (4 s GOP), the settling before the window, the teardown.
RUN_OVERHEAD_S = 30.0
# The render's time is guessed from rendering 2 s of each clip; a loaded box varies that much.
RENDER_MARGIN = 1.6
RELAY_START_S = 5.0  # the relay's start before the clips' first frame is due
FRAME_S = 1 / 30  # the drones' frame interval
WORKERS_PER_STREAM = 2  # counting viewers' processes per stream (plus one per sample viewer)
# How often the relay's own delay figures are read in the window: one GET of /api/streams,
# a few milliseconds of the event loop's time, so the reading does not weigh on what it reads.
RELAY_SAMPLE_EVERY_S = 2.0


class Nices(NamedTuple):
    """The nice of the bench's load (counting viewers) and of its instruments (pushers,
    sample viewers); the relay runs at 0."""

    load: int
    meter: int


def drones(count: int) -> list[dict[str, Any]]:
    """The fleet: name, how it is pushed, its size, bitrate and rungs (the first `count`)."""
    fleet = [
        {
            "name": "alpha",
            "scheme": "rtmp",
            "size": "1920x1080",
            "bitrate": 6_000_000,
            "high_bframes": True,
            "rungs": ["720p", "360p"],
        },
        {
            "name": "bravo",
            "scheme": "udp",
            "size": "1280x720",
            "bitrate": 3_000_000,
            "high_bframes": False,
            "rungs": ["720p", "360p"],
        },
        {
            "name": "ir",
            "scheme": "udp",
            "size": "640x512",
            "bitrate": 1_000_000,
            "high_bframes": False,
            "rungs": ["360p"],
        },
    ]
    return fleet[:count]


class Fleet:
    """The relay with the fleet's streams, and the fake drones pushing them."""

    def __init__(
        self,
        fleet: list[dict[str, Any]],
        viewers: int,
        meter_nice: int,
        clips: Clips | None = None,
    ) -> None:
        self.fleet, self.meter_nice, self.clips = fleet, meter_nice, clips
        rtmp_port = free_port()
        tables = []
        for drone in fleet:
            if drone["scheme"] == "rtmp":
                listen = f"rtmp://127.0.0.1:{rtmp_port}/live/{drone['name']}"
                drone["push"] = listen
            else:
                port = free_port(socket.SOCK_DGRAM)
                listen, drone["push"] = f"udp://127.0.0.1:{port}", f"udp://127.0.0.1:{port}"
            rungs = ", ".join(json.dumps(r) for r in drone["rungs"])
            tables.append(
                f'[[streams]]\nname = "{drone["name"]}"\nsource = "{listen}"\n'
                f"renditions = [{rungs}]\n"
            )
        most = viewers * len(fleet) + 10
        limits = ("max_viewers_per_stream", "max_viewers", "max_viewers_per_identity")
        self.relay = RelayProcess(
            "\n".join(tables),
            limits=dict.fromkeys((*limits, "max_unconnected_per_address"), most),
            prefix="bench-fleet-",
            log_level="warning",
        )
        self.pushers: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.relay.start()
        self.relay.wait_ready(60)
        for drone in self.fleet:
            if self.clips is not None:
                command = self.clips.push_command(drone)
            else:
                command = [sys.executable, str(ROOT / "scripts" / "fake_drone.py"), drone["push"]]
                command += drone_options(drone)
            self.pushers.append(
                subprocess.Popen(
                    command,
                    stdout=subprocess.DEVNULL,
                    stderr=(self.relay.folder / f"pusher-{drone['name']}.log").open("wb"),
                    preexec_fn=lambda: os.nice(self.meter_nice),
                )
            )
        deadline = time.monotonic() + 60
        while not self.all_live():
            if time.monotonic() > deadline:
                trouble = self.pusher_trouble()
                raise RuntimeError(f"the streams did not all go live within 60 s: {trouble}")
            time.sleep(0.5)

    def all_live(self) -> bool:
        streams = json.loads(self.relay.call("GET", "/api/streams")[1])
        states = {s["name"]: s["state"] for s in streams.get("streams", streams)}
        return all(states.get(d["name"]) == "live" for d in self.fleet)

    def record(self) -> str:
        status, body, _ = self.relay.call(
            "POST",
            "/api/incidents",
            {"title": "bench fleet", "streams": [d["name"] for d in self.fleet]},
        )
        if status != 201:
            raise RuntimeError(f"the incident did not start: {status} {body[:200]!r}")
        return str(json.loads(body)["id"])

    def stop_recording(self, incident: str) -> None:
        self.relay.call("POST", f"/api/incidents/{incident}/stop")

    def pusher_trouble(self) -> dict[str, str]:
        """The last line of each pusher that ended before its time (starved, refused)."""
        out = {}
        for drone, pusher in zip(self.fleet, self.pushers, strict=True):
            if pusher.poll() is not None:
                log = (self.relay.folder / f"pusher-{drone['name']}.log").read_text("utf-8")
                out[drone["name"]] = (log.strip().splitlines() or ["(no output)"])[-1]
        return out

    def close(self) -> None:
        stop_pushers(self.pushers)
        self.relay.close()


def stop_pushers(pushers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (a pusher's clean stop), then kill whatever has not ended within 10 s."""
    for pusher in pushers:
        pusher.send_signal(signal.SIGTERM)
    for pusher in pushers:
        try:
            pusher.wait(10)
        except subprocess.TimeoutExpired:
            pusher.kill()


def drone_options(drone: dict[str, Any]) -> list[str]:
    """fake_drone.py's options for this drone's picture and encoder."""
    options = ["--size", drone["size"], "--bitrate", str(drone["bitrate"])]
    options += ["--gop", "120"]  # 4 s, as drones send
    return options + (["--high-bframes"] if drone["high_bframes"] else [])


class Clips:
    """The drones' clips for one run, rendered ahead for pushing from `at` (Unix time) on;
    the pushers start where the clip's time is (a render that ended late skips ahead)."""

    def __init__(
        self,
        fleet: list[dict[str, Any]],
        folder: Path,
        seconds: float,
        phases: dict[str, float] | None = None,
    ) -> None:
        self.folder = folder
        # Each drone's capture clock: frame n at at + phase + n/30 (seconds).
        self.phases = phases or {}
        # How much slower than real time the three render side by side here: 2 s of each.
        began = time.monotonic()
        self._render(fleet, time.time(), 2.0, "probe-")
        slowdown = (time.monotonic() - began) / 2.0
        self.at = time.time() + slowdown * seconds * RENDER_MARGIN + 5.0
        began = time.monotonic()
        self._render(fleet, self.at, seconds, "")
        self.render_s = round(time.monotonic() - began, 1)
        self.late_s = round(max(0.0, time.time() - self.at), 1)  # the first run skips that

    def _render(self, fleet: list[dict[str, Any]], at: float, seconds: float, prefix: str) -> None:
        renders = []
        for drone in fleet:
            out = self.path(drone, prefix)
            begins = at + self.phases.get(drone["name"], 0.0)
            command = [sys.executable, str(ROOT / "scripts" / "fake_drone.py"), out]
            command += drone_options(drone) + ["--at", repr(begins), "--seconds", str(seconds)]
            renders.append(subprocess.Popen(command, stderr=subprocess.PIPE))
        for render in renders:
            _, err = render.communicate()
            if render.returncode != 0:
                raise RuntimeError(f"rendering a clip failed: {err.decode()[-500:]}")

    def path(self, drone: dict[str, Any], prefix: str = "") -> str:
        suffix = ".flv" if drone["scheme"] == "rtmp" else ".ts"
        return str(self.folder / f"{prefix}{drone['name']}{suffix}")

    def push_command(self, drone: dict[str, Any]) -> list[str]:
        begins = self.at + self.phases.get(drone["name"], 0.0)
        skip = max(0.0, time.time() - begins + 0.5)  # from the clip's present on
        script = str(ROOT / "scripts" / "clip_push.py")
        times = ["--at", repr(begins), "--from", f"{skip:.2f}"]
        return [sys.executable, script, self.path(drone), drone["push"], *times]


def stage_cores(
    before: dict[str, float], after: dict[str, float], seconds: float, names: list[str]
) -> dict[str, Any]:
    """Cores per stream and stage from the relay's thread names (relay.threads: src-<stream>
    and an RTMP publisher's rtmp-<stream>, dec-<stream>, enc-<rung>-<stream> with the x264
    threads it starts; OS names are cut at 15 characters); what no stream claims is the
    fan-out, the recording and the event loop."""
    delta = {k: (after.get(k, 0.0) - before.get(k, 0.0)) / seconds for k in after}
    total = delta.pop("total", 0.0)
    per_stream: dict[str, dict[str, float]] = {name: {} for name in names}
    claimed = 0.0
    for thread, cores in delta.items():
        parts = thread.split("-")
        stages = {"src": "ingest", "rtmp": "ingest", "dec": "decode"}
        stage = f"encode_{parts[1]}" if parts[0] == "enc" else stages.get(parts[0], "")
        stream = parts[-1] if stage else ""
        owner = next((n for n in names if stream and n.startswith(stream)), None)
        if owner is None:
            continue
        per_stream[owner][stage] = round(per_stream[owner].get(stage, 0.0) + cores, 3)
        claimed += cores
    return {"total": round(total, 3), "fanout_and_loop": round(total - claimed, 3), **per_stream}


def box_cpu_ticks() -> list[int]:
    """The whole box's CPU time by kind since boot (/proc/stat's first line: user, nice,
    system, idle, iowait, irq, softirq, steal, ...), in clock ticks."""
    with open("/proc/stat") as stat:
        return [int(field) for field in stat.readline().split()[1:9]]


def box_room(
    ticks: tuple[list[int], list[int]],
    waits: tuple[dict[str, float], dict[str, float]],
    relay_cores: dict[str, Any],
    seconds: float,
    names: list[str],
) -> dict[str, Any]:
    """Whether the box had room in the window: its idle and stolen shares (steal: time the
    host gave our virtual CPUs to others), and how long the relay's threads, ready to run,
    waited for a core, in all (seconds per second) and per second of their own CPU. On a box
    with room a woken thread runs at once; on a full one a decoder's or an encoder's wait
    is its pictures' delay, whatever the relay's code does."""
    spent = [b - a for a, b in zip(*ticks, strict=True)]
    total = sum(spent) or 1
    waited = stage_cores(waits[0], waits[1], seconds, names)
    return {
        "idle_share": round((spent[3] + spent[4]) / total, 3),
        "steal_share": round(spent[7] / total, 3),
        "relay_waited_for_a_core_s_per_s": waited["total"],
        "relay_wait_per_cpu_s": (
            round(waited["total"] / relay_cores["total"], 2) if relay_cores["total"] else None
        ),
        "relay_wait_by_stream_s_per_s": {n: waited[n] for n in names},
    }


def processes_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds_by_thread(pid).get("total", 0.0) for pid in pids if pid)


def capture_phases(fleet: list[dict[str, Any]], independent: bool) -> dict[str, float]:
    """Where in the frame interval each drone captures its frames, in seconds. Real
    drones' cameras run on clocks of their own, so their frames reach the relay at phases
    that have nothing to do with each other; aligned (all 0), every drone's picture arrives
    at the same instant and the decoders and encoders all want a core at once: the worst
    case. Independent: each drawn at random for the run."""
    return {d["name"]: random.uniform(0.0, FRAME_S) if independent else 0.0 for d in fleet}


def one_run(
    fleet: list[dict[str, Any]],
    viewers: int,
    seconds: float,
    nices: Nices,
    live_encode: bool,
    independent_phases: bool = False,
) -> dict[str, Any]:
    """One run, its clips rendered for it (the marks carry this run's times); a run that
    fails says why in its place and leaves the other runs' figures standing."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-clips-") as folder:
        clips = None
        if not live_encode:
            span = RUN_OVERHEAD_S + max(1.0, viewers * len(fleet) / 15) + seconds
            phases = capture_phases(fleet, independent_phases)
            clips = Clips(fleet, Path(folder), span + 10.0, phases)
            # Rendered early: the clips begin at `at`, so the relay starts just before.
            time.sleep(max(0.0, clips.at - RELAY_START_S - time.time()))
        try:
            run = measured_run(fleet, viewers, seconds, nices, clips)
        except (RuntimeError, OSError) as exc:
            return {"error": str(exc)}
        run["box"]["load_1min_before"] = round(load_before, 2)
        run["capture_phases_ms"] = (
            None if clips is None else {k: round(v * 1000, 1) for k, v in clips.phases.items()}
        )
        run["clips_render_s"] = None if clips is None else clips.render_s
        run["clips_started_late_s"] = None if clips is None else clips.late_s
        return run


def measured_run(
    fleet: list[dict[str, Any]],
    viewers: int,
    seconds: float,
    nices: Nices,
    clips: Clips | None,
) -> dict[str, Any]:
    setup = Fleet(fleet, viewers, nices.meter, clips)
    try:
        setup.start()
        incident = setup.record()
        plan: list[tuple[str, str, str, int]] = []  # (kind, stream, rung, count)
        for drone in fleet:
            rungs = drone["rungs"]
            for i, rung in enumerate(rungs):
                share = viewers // len(rungs) + (1 if i < viewers % len(rungs) else 0)
                if share <= 0:
                    continue
                plan.append(("sample", drone["name"], rung, 1))
                rest = share - 1
                per = -(-rest // WORKERS_PER_STREAM) if rest else 0
                for w in range(WORKERS_PER_STREAM):
                    count = min(per, rest - w * per)
                    if count > 0:
                        plan.append(("count", drone["name"], rung, count))
        total = sum(p[3] for p in plan)
        join_s = max(1.0, total / 15)  # under the relay's offer budget (20 a second)
        t0 = time.monotonic() + 3.0
        window = (t0 + join_s + 4.0, t0 + join_s + 4.0 + seconds)
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        procs = []
        offset = 0
        for kind, stream, rung, count in plan:
            joins = [t0 + join_s * (offset + i) / total for i in range(count)]
            offset += count
            nice = nices.meter if kind == "sample" else nices.load
            args = (nice, kind, setup.relay.base_url, setup.relay.token, count, joins, window)
            p = ctx.Process(target=niced_worker, args=(*args, out, stream, rung))
            p.start()
            procs.append(p)
        time.sleep(max(0.0, window[0] - time.monotonic()))
        pushers = [p.pid for p in setup.pushers]
        viewers = [p.pid or 0 for p in procs]
        samplers = [pid for pid, (kind, *_) in zip(viewers, plan, strict=True) if kind == "sample"]
        relay0, at0 = cpu_seconds_by_thread(setup.relay.pid), time.monotonic()
        wait0, ticks0 = core_wait_seconds_by_thread(setup.relay.pid), box_cpu_ticks()
        push0, view0 = processes_cpu(pushers), processes_cpu(viewers)
        sample0 = processes_cpu(samplers)
        relay_shares = RelayShares()
        while window[1] - time.monotonic() > 0:
            relay_shares.read(setup.relay)
            time.sleep(max(0.0, min(RELAY_SAMPLE_EVERY_S, window[1] - time.monotonic())))
        relay1, at1 = cpu_seconds_by_thread(setup.relay.pid), time.monotonic()
        wait1, ticks1 = core_wait_seconds_by_thread(setup.relay.pid), box_cpu_ticks()
        push1, view1 = processes_cpu(pushers), processes_cpu(viewers)
        sample1 = processes_cpu(samplers)
        streams = json.loads(setup.relay.call("GET", "/api/streams")[1])
        trouble = setup.pusher_trouble()
        reports: list[dict[str, Any]] = []
        for _ in procs:
            reports += out.get(timeout=120)
        for p in procs:
            p.join(timeout=30)
        setup.stop_recording(incident)
    finally:
        setup.close()
    span = at1 - at0
    names = [d["name"] for d in fleet]
    cores = stage_cores(relay0, relay1, span, names)
    by_rung: dict[str, dict[str, Any]] = {}
    for drone in fleet:
        for rung in drone["rungs"]:
            mine = [r for r in reports if r["stream"] == drone["name"] and r["rendition"] == rung]
            fps = [r["fps"] for r in mine]
            delays = sorted(d for r in mine for d in r["delays_ms"])
            by_rung[f"{drone['name']}/{rung}"] = {
                "viewers": len(mine),
                "fps_min": round(min(fps), 2) if fps else None,
                "fps_median": round(statistics.median(fps), 2) if fps else None,
                "frames_lost": sum(r["lost_frames"] for r in mine),
                "delay_p50_ms": quantile(delays, 0.5),
                "delay_p95_ms": quantile(delays, 0.95),
                # The sample viewer's largest delay in each second of the window.
                "delay_max_by_second": next(
                    (r["delay_max_by_second"] for r in mine if r["kind"] == "sample"), []
                ),
                **relay_shares.figures(drone["name"], rung),
            }
    listed = streams.get("streams", streams) if isinstance(streams, dict) else streams
    return {
        "relay_cores": cores["total"],
        "relay_cores_by_stream": {n: cores[n] for n in names},
        "relay_fanout_and_loop_cores": cores["fanout_and_loop"],
        "pushers_cores": round((push1 - push0) / span, 3),
        "viewers_cores": round((view1 - view0) / span, 3),
        # Of which the sample viewers (decoding, one per rung) and the counting viewers.
        "viewers_cores_by_kind": {
            "sample": round((sample1 - sample0) / span, 3),
            "count": round((view1 - view0 - sample1 + sample0) / span, 3),
        },
        "reporting": len(reports),
        "by_rung": by_rung,
        "box": box_room((ticks0, ticks1), (wait0, wait1), cores, span, names),
        "streams_fps_in": {s["name"]: s.get("fps_in") for s in listed},
        "pushers_ended": trouble,  # a starved or refused pusher: the run says little
    }


class RelayShares:
    """The relay's own share of each rung's delay, read from /api/streams during the window
    (docs/delay.md): source packet in -> ready for the viewers (the rung's p50 and p95 over
    its last 300 packets), then each viewer's wait in its pacer's queue. Beside the viewers'
    capture -> decoded it says whether a delay arose in the relay or outside it (the push,
    the network, the viewer's own jitter buffer and decoder)."""

    def __init__(self) -> None:
        self.rung: dict[str, list[tuple[float, float]]] = {}  # stream/rung -> (p50, p95)
        self.queue: dict[str, list[float]] = {}  # stream/rung -> send queue readings (ms)

    def read(self, relay: RelayProcess) -> None:
        try:
            listed = json.loads(relay.call("GET", "/api/streams")[1])["streams"]
        except (OSError, ValueError, KeyError):
            return  # a reading missed is a reading fewer, not a failed run
        for stream in listed:
            for r in stream.get("rendition_stats", []):
                p50, p95 = r["relay_delay"]["p50_ms"], r["relay_delay"]["p95_ms"]
                if p50 is not None and p95 is not None:
                    self.rung.setdefault(f"{stream['name']}/{r['name']}", []).append((p50, p95))
            for s in stream.get("viewer_sessions") or []:
                if s.get("send_queue_ms") is not None:
                    key = f"{stream['name']}/{s['rendition']}"
                    self.queue.setdefault(key, []).append(float(s["send_queue_ms"]))

    def figures(self, stream: str, rung: str) -> dict[str, float | int | None]:
        key = f"{stream}/{rung}"
        readings = self.rung.get(key, [])
        p50s, p95s = ([r[i] for r in readings] for i in (0, 1))
        return {
            "relay_readings": len(readings),
            "relay_rung_p50_ms": round(statistics.median(p50s), 1) if readings else None,
            "relay_rung_p95_ms": round(statistics.median(p95s), 1) if readings else None,
            "relay_send_queue_p95_ms": quantile(sorted(self.queue.get(key, [])), 0.95),
        }


def niced_worker(nice: int, *args: Any) -> None:
    """Viewers at `nice`: on a flight they run on the tablets, not on the relay's box."""
    os.nice(nice)
    worker(*args)


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


def verdict(run: dict[str, Any]) -> dict[str, bool | None]:
    rungs = run["by_rung"].values()
    fps = [r["fps_min"] for r in rungs if r["fps_min"] is not None]
    p95 = [r["delay_p95_ms"] for r in rungs if r["delay_p95_ms"] is not None]
    return {
        "fps_min": min(fps) >= GOALS["fps_min"] if fps else None,
        "delay_p95_ms": max(p95) <= GOALS["delay_p95_ms"] if p95 else None,
        "relay_cores": run["relay_cores"] <= GOALS["relay_cores"],
    }


def over_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per rung: the median of the runs' delay p95 (the goal is read off these medians) and
    the lowest fps of any run."""
    out: dict[str, dict[str, float | None]] = {}
    for rung in runs[0]["by_rung"] if runs else []:
        p95 = [r["by_rung"][rung]["delay_p95_ms"] for r in runs]
        fps = [r["by_rung"][rung]["fps_min"] for r in runs]
        known = [p for p in p95 if p is not None]
        out[rung] = {
            "delay_p95_ms_median": round(statistics.median(known), 1) if known else None,
            "fps_min": min((f for f in fps if f is not None), default=None),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drones", type=int, default=3, help="1..3 (alpha, bravo, ir)")
    parser.add_argument("--viewers", type=int, default=20, help="per drone")
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured window")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--load-nice", type=int, default=10, help="counting viewers' nice")
    parser.add_argument(
        "--meter-nice", type=int, default=0, help="pushers' and sample viewers' nice"
    )
    parser.add_argument(
        "--live-encode", action="store_true", help="live fake drones instead of clips"
    )
    parser.add_argument(
        "--phases",
        choices=("aligned", "independent"),
        default="aligned",
        help="the drones' capture phases: all at once (worst case) or each its own",
    )
    parser.add_argument(
        "--alpha-without-bframes",
        action="store_true",
        help="alpha baseline-like, no B-frames: what its B-frames cost in delay",
    )
    args = parser.parse_args()
    if not 1 <= args.drones <= 3 or not 1 <= args.viewers <= 100 or not 5 <= args.seconds <= 300:
        parser.error("--drones 1..3, --viewers 1..100 and --seconds 5..300")
    if args.runs < 1 or not (0 <= args.load_nice <= 19 and 0 <= args.meter_nice <= 19):
        parser.error("--runs >= 1, --load-nice and --meter-nice 0..19")
    if args.live_encode and args.phases == "independent":
        parser.error("--phases independent needs the rendered clips (not --live-encode)")
    fleet = drones(args.drones)
    if args.alpha_without_bframes:
        fleet[0]["high_bframes"] = False
    nices = Nices(load=args.load_nice, meter=args.meter_nice)
    every = [
        one_run(
            fleet, args.viewers, args.seconds, nices, args.live_encode, args.phases == "independent"
        )
        for _ in range(args.runs)
    ]
    runs = [r for r in every if "error" not in r]
    result: dict[str, Any] = {
        "drones": [
            {k: d[k] for k in ("name", "scheme", "size", "bitrate", "high_bframes", "rungs")}
            for d in fleet
        ],
        "viewers_per_drone": args.viewers,
        "window_s": args.seconds,
        "nice": nices._asdict(),
        "runs": len(runs),
        "pushers": "live fake drones" if args.live_encode else "clips rendered ahead",
        "phases": args.phases,
        "failed_runs": [r["error"] for r in every if "error" in r],
        "relay_cores_median": (
            round(statistics.median(r["relay_cores"] for r in runs), 3) if runs else None
        ),
        "goals": GOALS,
        # Per rung over the runs: the median of the runs' delay p95 and the lowest fps.
        "by_rung_over_runs": over_runs(runs),
        "pass": [verdict(r) for r in runs],
        "each_run": runs,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
