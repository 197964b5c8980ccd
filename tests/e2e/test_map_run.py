"""scripts/run's demo drone flies: the fake drone's MAVLink reaches the demo stream, and the
map's API shows it moving on its circle (what /map draws)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import free_port
from tests.e2e.test_run_script import ROOT, read_url, start, stop


async def demo_on_map(base: str, token: str) -> dict[str, Any] | None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(base + "/api/map") as resp:
            assert resp.status == 200
            drones = (await resp.json())["drones"]
    demo: dict[str, Any] = next(d for d in drones if d["name"] == "demo")
    assert demo["has_telemetry"] is True
    return demo["telemetry"]


async def test_scripts_run_shows_a_flying_drone(tmp_path: Path) -> None:
    port = free_port()
    proc = start([str(ROOT / "scripts" / "run"), "--port", str(port)], cwd=tmp_path)
    try:
        url = await read_url(proc, timeout=600)
        base = url.split("/login", 1)[0]
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        seen: list[dict[str, Any]] = []
        for _ in range(100):
            t = await demo_on_map(base, token)
            if t is not None and not t["stale"]:
                seen.append(t)
            if len(seen) >= 2 and seen[-1]["time"] - seen[0]["time"] > 1.0:
                break
            await asyncio.sleep(0.2)
        assert len(seen) >= 2, f"the demo drone sent no telemetry: {seen}"
        first, last = seen[0], seen[-1]
        assert first["source"] == "mavlink" and first["alt_rel_m"] == 120
        moved = math.dist((first["lat"], first["lon"]), (last["lat"], last["lon"])) * 111_320
        assert moved > 10, f"the demo drone moved {moved:.1f} m in over a second"
    finally:
        assert stop(proc) == 0
