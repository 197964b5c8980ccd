"""The relay under test, as its own process (`python -m relay serve`): the sim stream at
720p with the given ladder, listening on the relay end of the emulated link, and the
admin's view of its viewer sessions (GET /api/streams/NAME, polled by the bench)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

STREAM = "demo"
SOURCE = "sim://?size=1280x720&fps=30&gop=30"


class RelayProcess:
    def __init__(self, host: str, port: int, renditions: list[str], source: str = SOURCE) -> None:
        self.host, self.port = host, port
        self.base_url = f"http://{host}:{port}"
        self.token = "bench-lte-" + secrets.token_hex(12)
        self.folder = Path(tempfile.mkdtemp(prefix="bench-lte-relay-"))
        rungs = ", ".join(json.dumps(r) for r in renditions)
        (self.folder / "relay.toml").write_text(
            f'[server]\nhost = "{host}"\nport = {port}\ndata_dir = "{self.folder / "data"}"\n'
            f'[webrtc]\nice_addresses = ["{host}"]\n'
            f'[[streams]]\nname = "{STREAM}"\nsource = "{source}"\nrenditions = [{rungs}]\n'
            f'[[auth.tokens]]\nname = "bench"\ntoken = "{self.token}"\nrole = "admin"\n'
            'streams = ["*"]\npublish = ["*"]\n'
        )
        self.log = open(self.folder / "relay.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/login?token={self.token}"

    def spawn(self) -> None:
        cmd = [sys.executable, "-m", "relay", "serve", "--config", str(self.folder / "relay.toml")]
        self.proc = subprocess.Popen(
            cmd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def wait_ready(self, wait_s: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + wait_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"relay exited; see {self.folder / 'relay.log'}")
                try:
                    async with http.get(f"{self.base_url}/healthz") as resp:
                        if resp.status == 200 and await self._stream_up(http):
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError("relay did not come up")

    async def _stream_up(self, http: aiohttp.ClientSession) -> bool:
        status = await self.stream_status(http)
        return bool(status) and all(r["fps"] > 0 for r in status.get("rendition_stats", []))

    async def stream_status(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.base_url}/api/streams/{STREAM}"
        async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(2)) as resp:
            return dict(await resp.json()) if resp.status == 200 else {}

    async def wait_no_viewers(self, http: aiohttp.ClientSession, wait_s: float = 10) -> None:
        """Until the relay has closed every viewer session (the next run starts alone)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                if not (await self.stream_status(http)).get("viewer_sessions"):
                    return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)

    def stop(self, keep_log: str | None = None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        if keep_log:
            shutil.copy(self.folder / "relay.log", keep_log)
        shutil.rmtree(self.folder, ignore_errors=True)


# Per-viewer packet counters the relay may publish in its viewer status (the pacer's, issue
# 17); on a relay without them the bench reports null.
SENT_KEYS = ("video_packets", "retransmitted_packets", "retransmits_dropped")
# What main's viewer status has: packets the relay dropped for this viewer (too slow).
STATUS_KEYS = ("dropped",)


def sent_counters(viewer: dict[str, Any]) -> dict[str, Any]:
    pacer: dict[str, Any] = viewer["pacer"] if isinstance(viewer.get("pacer"), dict) else {}
    known = {k: viewer.get(k) for k in STATUS_KEYS}
    return {**known, **{k: viewer.get(k, pacer.get(k)) for k in SENT_KEYS}}
