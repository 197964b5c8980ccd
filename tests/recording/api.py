"""Helpers for the recording tests: the incidents API over real HTTP, decoding recordings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import av

from relay.media.frame_marks import read_marks
from tests.conftest import ADMIN_TOKEN

SIM = {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=30", "renditions": ["360p"]}


def sections(tmp_path: Path, **recording: Any) -> dict[str, Any]:
    """Config sections that keep data and recordings in the test's folder."""
    return {
        "server": {"data_dir": str(tmp_path / "data")},
        "recording": {"dir": str(tmp_path / "rec"), **recording},
    }


async def call(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One API request, by default with the tests' admin token (headers={}: anonymous)."""
    if headers is None:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, base + path, json=body, headers=headers) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.read()


def decode_counters(path: Path) -> list[int]:
    """The sim's frame counter of every decoded frame (a damaged picture fails)."""
    found = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            marks = read_marks(frame.to_ndarray(format="gray"))
            assert marks is not None, f"{path}: a damaged picture after {len(found)} frames"
            found.append(marks[0])
    return found


def duration_of(path: Path) -> float:
    """Presentation span of a file, first to last frame plus one frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [f.pts for f in container.decode(stream)]
        tb = float(stream.time_base or 0)
    step = (max(pts) - min(pts)) / max(1, len(pts) - 1)
    return (max(pts) - min(pts) + step) * tb


def verify_cli(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay", "verify", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
