#!/usr/bin/env python3
"""Lazy rungs: what a drone nobody watches costs, and how soon a viewer of an idle rung sees it.

    .venv/bin/python scripts/bench_idle.py [--runs 1] [--seconds 10] [--streams 10]
        [--cold-joins 2] [--quick] [--clip FILE] [--idle-decode]

The source: a 1080p30 High-profile clip with B-frames and a 4 s GOP (made with the sim scene
unless --clip is given), looped at real-time pace by the relay's `file:` source; the rungs
720p and 360p. Each run starts relays as their own processes (scripts/relay_process.py):

1. cost: one stream. The relay's CPU (all its threads, from /proc) over --seconds with
   nobody watching, then with one 720p aiortc viewer (this process, not counted), and the
   ratio (goal <= 0.25). The viewer phase's CPU by stage (src, dec, enc, the rest) says what
   keeping the decoder running while idle would cost.
2. warm: 20 more 720p viewers join one after another while that viewer watches (the rung
   runs; each join forces an IDR): POST -> first decoded frame, p50/p95 (goal p95 <= 150 ms).
3. cold: --streams streams (same clip, 720p + 360p, default rung_idle_s 30 s). Each gets one
   viewer that leaves after its first frame; the stream's next viewer joins after the rung
   has been idle 35.5 s (so it really stopped), --cold-joins times (default 2): that many
   x --streams joins (--streams 3 --cold-joins 7: the brigade's three drones, 21), POST -> first
   decoded frame p50/p95 (goal p95 <= 400 ms), and POST -> the first live picture (the
   first whose frame mark differs: the first picture may be a still, the kept IDR labelled
   with its age, repeated while the catch-up decodes); a join without a picture in 10 s is
   counted apart (`cold_joins_without_picture`), not in the times. The streams are 3.5 s
   apart, each cold start at another phase of the 4 s GOP; but each joined rung runs on for
   its 30 s idle time, so about 8 streams' rungs (decode + 720p + 360p) run during every
   cold start: the box is overloaded by the bench itself. --quick: rung_idle_s 2 s and 3 s
   of idle, the streams one after the other: no other rung runs during a cold start (the
   rung stops all the same; about 2 minutes).
--idle-decode: the streams set `idle_decode = true` (reference pictures decoded while idle:
the idle cost rises, a cold start hands on the newest of them at once). Every stream then
decodes all the time, about 0.25 cores each: use --streams 3 (the brigade's two or three
drones) on a 2-core box, ten overload it.
Prints ONE JSON object: per run and the medians over --runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_fanout import cpu_seconds, quantile  # noqa: E402
from scripts.relay_process import RelayProcess  # noqa: E402
from tests.media_gen import make_clip  # noqa: E402
from tests.whep_client import WhepViewer  # noqa: E402

GOP_S = 4.0
IDLE_GAP_S = 35.5  # the goal's "idle >= 35 s": past the default 30 s idle stop
STAGGER_S = 3.5  # between streams: one cold start at a time, another GOP phase each


def start_relay(clip: Path, streams: int, idle_s: float | None, decode: bool) -> RelayProcess:
    idle = f"rung_idle_s = {idle_s}\n" if idle_s is not None else ""
    idle += "idle_decode = true\n" if decode else ""
    tables = "".join(
        f'[[streams]]\nname = "d{i}"\nsource = "file:{clip}"\nrenditions = ["720p", "360p"]\n{idle}'
        for i in range(streams)
    )
    limits = dict.fromkeys(("max_viewers_per_stream", "max_viewers", "whep_per_minute"), 600)
    relay = RelayProcess(tables, limits=limits, prefix="bench-idle-", log_level="warning")
    relay.launch("bench_idle", 60, live=True)
    return relay


async def join(relay: RelayProcess, stream: str, wait_s: float = 10.0) -> WhepViewer:
    """A 720p viewer that has its first decoded frame (received.first_frame_s)."""
    viewer = WhepViewer(relay.base_url, stream, rendition="720p", token=relay.token)
    await viewer.prepare()  # the client's own offer, before the clock starts
    await viewer.post()
    try:
        await viewer.wait_frames(1, timeout=wait_s)
    except AssertionError:
        await viewer.close()
        raise
    return viewer


def cores(relay: RelayProcess, seconds: float) -> dict[str, float]:
    before, t0 = cpu_seconds(relay.pid), time.monotonic()
    time.sleep(seconds)
    after, wall = cpu_seconds(relay.pid), time.monotonic() - t0
    out = {k: round((after[k] - before[k]) / wall, 4) for k in after}
    out["fanout"] = round(out["total"] - out["src"] - out["dec"] - out["enc"], 4)
    return out


async def first_live_s(viewer: WhepViewer, wait_s: float = 10.0) -> float | None:
    """POST -> the first picture whose frame mark differs from the first one's: the first
    live picture when the first was a still (repeated while the catch-up decodes)."""
    received = viewer.received
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        first = received.timeline[0][1]
        for arrival, counter, _ in received.timeline[1:]:
            if counter != first:
                return arrival - received.started
        await asyncio.sleep(0.01)
    return None


async def cost_and_warm(clip: Path, seconds: float, joins: int, decode: bool) -> dict[str, Any]:
    relay = start_relay(clip, 1, None, decode)
    try:
        await asyncio.sleep(3.0)  # past the start's own work
        idle = await asyncio.to_thread(cores, relay, seconds)
        status = json.loads(relay.get("/api/streams/d0"))
        assert status["encoders"] == 0, status  # nobody watches: no rung runs
        viewer = await join(relay, "d0")
        warm: list[float] = []
        try:
            await asyncio.sleep(3.0)
            watched = await asyncio.to_thread(cores, relay, seconds)
            for _ in range(joins):
                await asyncio.sleep(0.6)  # past the 0.5 s coalescing of forced IDRs
                other = await join(relay, "d0")
                warm.append((other.received.first_frame_s or 0) * 1000)
                await other.close()
        finally:
            await viewer.close()
    finally:
        relay.close()
    return {
        "idle_cores": idle["total"],
        "viewer_cores": watched["total"],
        "ratio": round(idle["total"] / watched["total"], 3),
        "idle_cores_by_stage": idle,
        "viewer_cores_by_stage": watched,
        # What idling with the decoder kept running would cost (decode and OSD are dec-*).
        "idle_cores_if_decoding": round(idle["total"] + watched["dec"], 4),
        "warm_joins": len(warm),
        "warm_first_frame_ms_p50": quantile(warm, 0.5),
        "warm_first_frame_ms_p95": quantile(warm, 0.95),
        "warm_first_frame_ms_max": quantile(warm, 1.0),
    }


async def cold(
    clip: Path, streams: int, quick: bool, decode: bool, joins_per_stream: int = 2
) -> dict[str, Any]:
    idle_s, gap_s = (2.0, 3.0) if quick else (None, IDLE_GAP_S)
    relay = start_relay(clip, streams, idle_s, decode)
    times: list[float] = []
    live: list[float] = []  # POST -> the first live picture (after the still, if any)
    failed: list[str] = []  # joins without a picture within 10 s (counted, not fatal)

    async def one_stream(i: int, stagger_s: float) -> None:
        await asyncio.sleep(i * stagger_s)
        name = f"d{i}"
        viewer = await join(relay, name, wait_s=20)  # the rung runs once ...
        await viewer.close()
        for _ in range(joins_per_stream):
            await asyncio.sleep(gap_s)  # ... and has been idle this long
            status = json.loads(relay.get(f"/api/streams/{name}"))
            assert not status["rungs"]["720p"]["running"], status["rungs"]
            try:
                viewer = await join(relay, name)
            except AssertionError as exc:
                failed.append(f"{name}: {exc}")
                continue
            times.append((viewer.received.first_frame_s or 0) * 1000)
            live_s = await first_live_s(viewer)
            if live_s is None:
                failed.append(f"{name}: no live picture after the first in 10 s")
            else:
                live.append(live_s * 1000)
            await viewer.close()

    try:
        if quick:  # one stream after the other: no other rung runs during a cold start
            for i in range(streams):
                await one_stream(i, 0.0)
        else:  # 35.5 s idle each: the streams' 30 s tails overlap (docs/lazy-rungs.md)
            await asyncio.gather(*(one_stream(i, STAGGER_S) for i in range(streams)))
        starts = []
        for i in range(streams):
            transcoder = json.loads(relay.get(f"/api/streams/d{i}"))["transcoder"]
            starts.append({**transcoder["cold_start"], "stills": transcoder["cold_start_stills"]})
    finally:
        relay.close()
    return {
        "cold_joins": len(times) + len(failed),
        "cold_joins_without_picture": len(failed),
        "cold_idle_s": gap_s,
        "cold_first_frame_ms_p50": quantile(times, 0.5),
        "cold_first_frame_ms_p95": quantile(times, 0.95),
        "cold_first_frame_ms_max": quantile(times, 1.0),
        # The first picture may be a still (the kept IDR, labelled with its age, repeated)
        # when the catch-up is long; then the first live one.
        "cold_live_frame_ms_p50": quantile(live, 0.5),
        "cold_live_frame_ms_p95": quantile(live, 0.95),
        "cold_live_frame_ms_max": quantile(live, 1.0),
        "cold_start_stills": sum(d["stills"] for d in starts),
        # The relay's own part: decoding the kept units (the rest is ICE, DTLS, x264's
        # first frame, the viewer's decoder).
        "cold_start_decode_ms_p50_by_stream": [d["p50_ms"] for d in starts],
        "cold_failures": failed,
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [r[key] for r in runs if r[key] is not None]
            out[key] = round(statistics.median(values), 4) if values else None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0, help="each CPU window")
    parser.add_argument("--streams", type=int, default=10, help="cold: the streams joined")
    parser.add_argument("--cold-joins", type=int, default=2, help="cold: joins per stream")
    parser.add_argument("--warm-joins", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="cold: rung_idle_s 2, 3 s idle")
    parser.add_argument("--clip", type=Path, help="a 1080p H.264 clip instead of the made one")
    parser.add_argument("--idle-decode", action="store_true", help="streams set idle_decode")
    args = parser.parse_args()
    if args.runs < 1 or args.streams < 1 or args.cold_joins < 1 or not 2 <= args.seconds <= 120:
        parser.error("--runs, --streams and --cold-joins must be >= 1, --seconds within 2..120")
    if args.clip is not None and not args.clip.is_file():
        parser.error(f"--clip {args.clip}: no such file")
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        clip = args.clip or make_clip(
            Path(tmp) / "drone1080.mp4",
            seconds=2 * GOP_S,
            size=(1920, 1080),
            gop=int(GOP_S * 30),
            high_bframes=True,
        )
        runs = []
        for _ in range(args.runs):
            decode = args.idle_decode
            run = asyncio.run(cost_and_warm(clip.resolve(), args.seconds, args.warm_joins, decode))
            cold_run = cold(clip.resolve(), args.streams, args.quick, decode, args.cold_joins)
            run.update(asyncio.run(cold_run))
            runs.append(run)
    print(
        json.dumps(
            {
                "source": "1080p30 High+B, 4 s GOP, file: looped; rungs 720p + 360p",
                "idle_decode": args.idle_decode,
                "goals": {"ratio": 0.25, "cold_p95_ms": 400, "warm_p95_ms": 150},
                "median": median_of(runs),
                "runs": runs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
