#!/usr/bin/env python3
"""Churn soak: thousands of WHEP viewers come and go while the drone's link drops and returns.

    .venv/bin/python scripts/soak.py [--joins 10000] [--concurrency 10] [--idle 60]
        [--report soak.json] [--size 640x360] [--renditions 360p,240p] [--relay-src DIR]

It starts a relay (`python -m relay serve`, its own process) with one RTMP stream, pushes to
it with scripts/fake_drone.py and, every 5–30 s, kills the pusher and starts it again 1–3 s
later. Meanwhile it makes --joins WHEP joins, --concurrency at a time, of three kinds in turn:
  delete  connects (ICE + DTLS), receives for a moment, DELETEs, closes (8 of 10),
  vanish  connects, then closes its peer without a DELETE (1 of 10),
  never   posts an offer and never applies the answer: ICE never starts (1 of 10).
Every few seconds it samples the relay's RSS, open fds and threads (/proc) and its asyncio
tasks, viewer peer connections still in memory and viewer sessions (/metrics). After the
joins, the pusher stays up and the relay idles --idle seconds before the last sample.

Pass (issue 10): over the second half of the joins fds, threads and tasks do not grow
(median of its last third ≤ median of its first third, plus 5 % and 2) and RSS grows ≤ 2 %
(same thirds); after the idle minute RSS is within 10 % of where it stood after the first
1,000 joins (after the first half, for a soak of fewer than 2,000), and no viewer session or
peer connection is left. The full report (every sample) goes to --report; one JSON object
with the figures and the verdict is printed. Exit status 0 when it passes, 1 when not.

--relay-src runs the relay from another source tree (e.g. an export of an older commit) for
a before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.webrtc.ice import rtc_configuration  # noqa: E402  (after the path is set)
from scripts.relay_process import RelayProcess, free_port  # noqa: E402

KINDS = ["delete"] * 8 + ["vanish", "never"]
CONNECT_WAIT_S = 15.0  # a joining peer that is not connected by then counts as a failure
RECEIVE_S = 0.3  # how long a connected viewer stays


class RtmpRelay(RelayProcess):
    """The relay under test with one RTMP stream (pushed to at `push_url`), an operator's
    token and recordings in `recordings` (default: data/recordings in its folder)."""

    def __init__(
        self,
        renditions: list[str],
        src: Path | None,
        stream: str = "soak",
        recordings: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        rtmp_port, key = free_port(), secrets.token_urlsafe(12)
        self.push_url = f"rtmp://127.0.0.1:{rtmp_port}/live/{key}"
        rungs = ", ".join(f'"{r}"' for r in renditions)
        super().__init__(
            f"""
[[streams]]
name = "{stream}"
source = "{self.push_url}"
renditions = [{rungs}]
""",
            role="operator",
            # The soak joins from one address and one token, faster than a person would: the
            # per-address and per-identity limits are the trust tests' subject, not this one's.
            limits={
                **dict.fromkeys(
                    ("max_viewers_per_stream", "max_viewers", "max_viewers_per_identity"), 500
                ),
                "max_unconnected_per_address": 500,
                "whep_per_minute": 10000,
            },
            recordings=recordings,
            prefix="soak-",
            log_file=log_file,
            src=src,
        )

    def wait_up(self) -> None:
        """Starts the relay and waits until it serves."""
        self.launch("soak")

    def sample(self, joins: int, phase: str) -> dict[str, Any]:
        """The relay's resources now (blocking: call it from a thread)."""
        fields = self.proc_status()
        metrics: dict[str, float] = {}
        for line in self.get("/metrics").decode().splitlines():
            name, _, value = line.partition(" ")
            if name in METRICS:
                metrics[METRICS[name]] = float(value)
        return {
            "t": round(time.monotonic(), 2),
            "joins": joins,
            "phase": phase,
            "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "fds": self.fds(),
            "threads": int(fields["Threads"]),
            **metrics,
        }


METRICS = {
    "relay_asyncio_tasks": "tasks",
    "relay_peer_connections": "peer_connections",
    "relay_viewers": "sessions",
}


class Flapper:
    """Pushes with scripts/fake_drone.py; drops the link every 5–30 s for 1–3 s."""

    def __init__(self, url: str, size: str, rng: random.Random) -> None:
        self.url, self.size, self.rng = url, size, rng
        self.proc: asyncio.subprocess.Process | None = None
        self.drops = 0

    async def push(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "scripts" / "fake_drone.py"),
            self.url,
            "--size",
            self.size,
            "--bitrate",
            "800000",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # the link drops: no clean end of the RTMP session
            await self.proc.wait()
        self.proc = None

    async def run(self) -> None:
        try:
            while True:
                await self.push()
                await asyncio.sleep(self.rng.uniform(5, 30))
                await self.stop()
                self.drops += 1
                await asyncio.sleep(self.rng.uniform(1, 3))
        finally:
            await self.stop()


@dataclass
class Tally:
    statuses: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    not_connected: int = 0
    errors: list[str] = field(default_factory=list)
    done: int = 0

    def count(self, key: str, into: dict[str, int]) -> None:
        into[key] = into.get(key, 0) + 1


async def join(base_url: str, token: str, kind: str, tally: Tally) -> None:
    """One viewer of one kind, from offer to leaving."""
    pc = RTCPeerConnection(rtc_configuration(()))
    headers = {"Authorization": f"Bearer {token}"}
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(
                f"{base_url}/whep/soak",
                data=pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp"},
            ) as resp:
                tally.count(str(resp.status), tally.statuses)
                answer = await resp.text()
                location = resp.headers.get("Location")
            if resp.status != 201 or location is None:
                if len(tally.errors) < 20:
                    tally.errors.append(f"POST {resp.status}: {answer[:200]}")
                return
            if kind == "never":
                return  # the answer is never applied: ICE never starts
            connected = asyncio.Event()
            pc.on(
                "connectionstatechange",
                lambda: connected.set() if pc.connectionState == "connected" else None,
            )
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            try:
                await asyncio.wait_for(connected.wait(), CONNECT_WAIT_S)
            except TimeoutError:
                tally.not_connected += 1
            await asyncio.sleep(RECEIVE_S)
            if kind == "delete":
                async with http.delete(base_url + location) as resp:
                    tally.count(f"DELETE {resp.status}", tally.statuses)
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        if len(tally.errors) < 20:
            tally.errors.append(f"{kind}: {exc!r}")
    finally:
        await pc.close()
        tally.count(kind, tally.kinds)
        tally.done += 1


def _median(samples: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(s[key] for s in samples))


def verdict(samples: list[dict[str, Any]], joins: int, statuses: dict[str, int]) -> dict[str, Any]:
    """The issue's pass criteria over the samples."""
    churn = [s for s in samples if s["phase"] == "churn"]
    second = [s for s in churn if s["joins"] >= joins / 2]
    third = max(1, len(second) // 3)
    first_third, last_third = second[:third], second[-third:]
    figures: dict[str, Any] = {}
    checks: dict[str, bool] = {}
    for key in ("fds", "threads", "tasks"):
        if key not in first_third[0]:
            continue  # a relay without that metric (--relay-src of an older tree)
        a, b = _median(first_third, key), _median(last_third, key)
        figures[f"{key}_second_half"] = [a, b]
        checks[f"{key}_flat"] = b <= a * 1.05 + 2
    a, b = _median(first_third, "rss_mb"), _median(last_third, "rss_mb")
    figures["rss_second_half_mb"] = [a, b]
    figures["rss_growth_second_half_pct"] = round(100 * (b - a) / a, 2)
    checks["rss_second_half_le_2pct"] = b <= a * 1.02
    mark = min(1000, joins // 2)
    reference = next(s for s in churn if s["joins"] >= mark)["rss_mb"]
    end = samples[-1]
    figures["rss_after_first_joins_mb"] = {"joins": mark, "rss_mb": reference}
    figures["rss_after_idle_mb"] = end["rss_mb"]
    figures["rss_after_idle_vs_reference_pct"] = round(100 * (end["rss_mb"] / reference - 1), 2)
    checks["rss_after_idle_within_10pct"] = end["rss_mb"] <= reference * 1.10
    checks["no_sessions_left"] = end.get("sessions") == 0
    # A soak whose joins were refused (429, 503, …) measured nothing: every join must be
    # answered 201.
    checks["every_join_answered_201"] = statuses.get("201", 0) == joins
    checks["no_peer_connections_left"] = end.get("peer_connections") == 0
    return {"figures": figures, "checks": checks, "pass": all(checks.values())}


async def soak(args: argparse.Namespace, relay: RtmpRelay) -> dict[str, Any]:
    rng = random.Random(args.seed)
    flapper = Flapper(relay.push_url, args.size, rng)
    flapping = asyncio.create_task(flapper.run())
    tally = Tally()
    samples: list[dict[str, Any]] = []
    start = time.monotonic()

    async def sample(phase: str) -> None:
        samples.append(await asyncio.to_thread(relay.sample, tally.done, phase))

    async def sampler() -> None:
        while True:
            await sample("churn")
            await asyncio.sleep(args.sample_every)

    await asyncio.sleep(3)  # the first push is live
    await sample("start")
    sampling = asyncio.create_task(sampler())
    slots = asyncio.Semaphore(args.concurrency)

    async def one(i: int) -> None:
        try:
            await join(relay.base_url, relay.token, KINDS[i % len(KINDS)], tally)
        finally:
            slots.release()

    running: set[asyncio.Task[None]] = set()
    for i in range(args.joins):
        await slots.acquire()  # at most `concurrency` joins under way
        task = asyncio.create_task(one(i))
        running.add(task)
        task.add_done_callback(running.discard)
        if i % 500 == 0:
            print(f"soak: {i} joins, {time.monotonic() - start:.0f} s", file=sys.stderr)
    await asyncio.gather(*running)
    churn_s = time.monotonic() - start
    sampling.cancel()
    await sample("churn")
    flapping.cancel()
    await asyncio.gather(flapping, return_exceptions=True)
    await flapper.push()  # the drone is back for the idle minute
    await asyncio.sleep(args.idle)
    await sample("idle")
    await flapper.stop()
    result = verdict(samples, args.joins, tally.statuses)
    return {
        "joins": args.joins,
        "concurrency": args.concurrency,
        "churn_seconds": round(churn_s, 1),
        "joins_per_second": round(args.joins / churn_s, 2),
        "source_drops": flapper.drops,
        "statuses": tally.statuses,
        "kinds": tally.kinds,
        "not_connected": tally.not_connected,
        "errors": tally.errors,
        "start": samples[0],
        "end": samples[-1],
        **result,
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds idle before the end")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--size", default="640x360", help="the pusher's picture, WxH")
    parser.add_argument("--renditions", default="360p,240p", help="the stream's rungs")
    parser.add_argument("--report", type=Path, default=Path("soak-report.json"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--relay-src", type=Path, default=None, help="run this tree's relay")
    parser.add_argument("--relay-log", type=Path, default=None, help="keep the relay's log here")
    args = parser.parse_args()
    if args.joins < 20 or args.concurrency < 1 or args.idle < 0 or args.sample_every <= 0:
        parser.error("--joins ≥ 20, --concurrency ≥ 1, --idle ≥ 0, --sample-every > 0")
    renditions = [r for r in args.renditions.split(",") if r]
    relay = RtmpRelay(renditions, args.relay_src, log_file=args.relay_log)
    try:
        relay.wait_up()
        report = asyncio.run(soak(args, relay))
    finally:
        relay.close()
    args.report.write_text(json.dumps(report, indent=1) + "\n")
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary), flush=True)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
