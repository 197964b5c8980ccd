"""Source flaps: an RTMP pusher drops and returns again and again while viewers watch and an
incident records. Used by tests/e2e/test_flaps.py (a few cycles) and scripts/flaps.py (100).

How long a return takes, per viewer: scripts/fake_drone.py burns its frame counter (0 at
each new push) and the capture time into every frame; the first live frame a viewer decodes
after a return, counter c with delay d (capture -> decoded), is d + c / fps after the new
push's first frame was captured. That is the drone's return as the crew sees it: RTMP
handshake, the demuxer's probe, decode, encode, send, decode.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.whep_client import WhepViewer

ROOT = Path(__file__).resolve().parent.parent
FPS = 30


@dataclass
class FlapReport:
    cycles: int = 0
    back_live: int = 0  # returns after which the stream said live again
    return_ms: list[float] = field(default_factory=list)  # per viewer and return
    missed: int = 0  # returns after which a viewer saw no live frame in time
    pusher_retries: int = 0  # pushes that ended at once and were started again
    manifest: dict[str, Any] = field(default_factory=dict)  # the incident's, once stopped
    verify_status: int | None = None  # `drone-relay verify` of the incident's folder
    verify_output: str = ""

    def quantile(self, q: float) -> float | None:
        values = sorted(self.return_ms)
        if not values:
            return None
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    def gaps(self, stream: str) -> list[dict[str, Any]]:
        gaps: list[dict[str, Any]] = self.manifest["recordings"][stream].get("gaps", [])
        return gaps

    def summary(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "back_live": self.back_live,
            "viewer_returns": len(self.return_ms),
            "missed": self.missed,
            "pusher_retries": self.pusher_retries,
            "return_ms_p50": self.quantile(0.5),
            "return_ms_p95": self.quantile(0.95),
            "return_ms_max": self.quantile(1.0),
            "gaps_in_manifest": sum(
                len(r.get("gaps", [])) for r in self.manifest.get("recordings", {}).values()
            ),
            "verify_status": self.verify_status,
        }


class Pusher:
    """scripts/fake_drone.py pushing RTMP; kill() is a dropped link, not a clean end."""

    def __init__(self, url: str, size: str = "640x360") -> None:
        self.url, self.size = url, size
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        script = str(ROOT / "scripts" / "fake_drone.py")
        self.proc = subprocess.Popen(
            [sys.executable, script, self.url, "--size", self.size, "--fps", str(FPS)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def revive(self) -> bool:
        """Starts it again if it gave up (refused or dropped while the relay was still
        closing the old session), as a controller retries; True if it had to."""
        if self.proc is not None and self.proc.poll() is not None:
            self.start()
            return True
        return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=10)
        self.proc = None


async def _api(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.request(method, base + path, json=body) as resp:
            data = await resp.json()
            if resp.status >= 300:
                raise AssertionError(f"{method} {path}: {resp.status} {data}")
            return data


async def _state(base: str, token: str, stream: str) -> str:
    return str((await _api(base, token, "GET", f"/api/streams/{stream}"))["state"])


async def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.05)
    return False


def _first_live(viewer: WhepViewer, since: float) -> float | None:
    """Return time (ms) of the first marked frame decoded after `since`, or None."""
    for arrival, counter, delay in viewer.received.timeline:
        if arrival > since and counter is not None and delay is not None:
            return delay + counter * 1000 / FPS
    return None


async def flap(
    base: str,
    token: str,
    stream: str,
    push_url: str,
    recordings: Path,
    cycles: int,
    viewers: int = 2,
    up_s: tuple[float, float] = (2.0, 4.0),
    down_s: tuple[float, float] = (1.0, 2.0),
    seed: int = 1,
) -> FlapReport:
    """Pushes, starts viewers and an incident (recorded under `recordings`), then drops and
    returns the pusher `cycles` times; stops the incident, verifies its folder and returns
    what was seen."""
    rng = random.Random(seed)
    report = FlapReport()
    pusher = Pusher(push_url)
    pusher.start()
    watching = [WhepViewer(base, stream, token=token) for _ in range(viewers)]
    incident_id = ""
    try:

        async def live() -> bool:
            report.pusher_retries += pusher.revive()
            return await _is_live(base, token, stream)

        if not await _wait(live, 30):
            raise AssertionError("the first push never went live")
        for viewer in watching:
            await viewer.start()
        for viewer in watching:
            await viewer.wait_frames(10, timeout=30)
        created = await _api(
            base, token, "POST", "/api/incidents", {"title": "flaps", "streams": [stream]}
        )
        incident_id = created["id"]
        await asyncio.sleep(rng.uniform(*up_s))
        for _ in range(cycles):
            pusher.kill()
            report.cycles += 1
            await _wait(lambda: _is_down(base, token, stream), 10)
            await asyncio.sleep(rng.uniform(*down_s))
            back = time.monotonic()
            pusher.start()
            if await _wait(live, 15):
                report.back_live += 1

            async def all_live(since: float = back) -> bool:
                return all(_first_live(v, since) is not None for v in watching)

            seen = await _wait(all_live, 10)
            for viewer in watching:
                ms = _first_live(viewer, back)
                if ms is None:
                    report.missed += 1
                else:
                    report.return_ms.append(ms)
            if not seen:
                continue
            await asyncio.sleep(rng.uniform(*up_s))
        await _api(base, token, "POST", f"/api/incidents/{incident_id}/stop")
        folder = recordings / incident_id
        report.manifest = json.loads((folder / "manifest.json").read_text())
        verify = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relay",
            "verify",
            str(folder),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await verify.communicate()
        report.verify_status, report.verify_output = verify.returncode, output.decode()
    finally:
        for viewer in watching:
            await viewer.close()
        pusher.kill()
    return report


async def _is_live(base: str, token: str, stream: str) -> bool:
    return await _state(base, token, stream) == "live"


async def _is_down(base: str, token: str, stream: str) -> bool:
    return await _state(base, token, stream) != "live"
