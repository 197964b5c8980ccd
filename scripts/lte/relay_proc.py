"""The relay under test, as its own process (`python -m relay serve`): the sim stream at
720p with the given ladder, listening on the relay end of the emulated link, and the
admin's view of its viewer sessions (GET /api/streams/NAME, polled by the bench)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from scripts.relay_process import RelayProcess as BaseRelayProcess

STREAM = "demo"
SOURCE = "sim://?size=1280x720&fps=30&gop=30"


class RelayProcess(BaseRelayProcess):
    """scripts/relay_process.py's relay with the sim stream, on `host` (the relay's end of
    the emulated link) and `port`; its output goes to `log_file` when given."""

    def __init__(
        self,
        host: str,
        port: int,
        renditions: list[str],
        source: str = SOURCE,
        log_file: Path | None = None,
    ) -> None:
        rungs = ", ".join(json.dumps(r) for r in renditions)
        streams = f'[[streams]]\nname = "{STREAM}"\nsource = "{source}"\nrenditions = [{rungs}]'
        super().__init__(
            streams, host=host, port=port, prefix="bench-lte-relay-", log_file=log_file
        )

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/login?token={self.token}"

    async def wait_serving(self, wait_s: float = 60) -> None:
        """Started and serving, the stream live (its rungs start with their viewers)."""
        self.start()
        deadline = time.monotonic() + wait_s
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"relay exited (config {self.config_path})")
                try:
                    if await self._stream_up(http):
                        return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError("relay did not come up")

    async def _stream_up(self, http: aiohttp.ClientSession) -> bool:
        status = await self.stream_status(http)
        return bool(status) and status.get("state") == "live"

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


# Per-viewer packet counters the relay may publish in its viewer status (the pacer's, issue
# 17); on a relay without them the bench reports null.
SENT_KEYS = (
    "video_packets",
    "retransmitted_packets",
    "retransmits_dropped",
    "fec_packets",
    "padding_packets",
)
# What main's viewer status has: packets the relay dropped for this viewer (too slow).
STATUS_KEYS = ("dropped",)


def sent_counters(viewer: dict[str, Any]) -> dict[str, Any]:
    pacer: dict[str, Any] = viewer["pacer"] if isinstance(viewer.get("pacer"), dict) else {}
    known = {k: viewer.get(k) for k in STATUS_KEYS}
    return {**known, **{k: viewer.get(k, pacer.get(k)) for k in SENT_KEYS}}


def rung_sample(
    relay: BaseRelayProcess, rung: str, queues: list[float], delays: list[float]
) -> None:
    """The rung's delay p50 and its viewers' send queues now (scripts/bench_glass.py)."""
    status = json.loads(relay.get("/api/streams/demo"))
    for r in status["rendition_stats"]:
        if r["name"] == rung and r["relay_delay"]["p50_ms"] is not None:
            delays.append(r["relay_delay"]["p50_ms"])
    for s in status.get("viewer_sessions") or []:
        if s.get("rendition") == rung:
            pacer = s.get("pacer") or {}
            queue = s.get("send_queue_ms", pacer.get("queue_delay_ms"))
            if queue is not None:
                queues.append(float(queue))


def rung_counts(relay: BaseRelayProcess, rung: str) -> dict[str, Any]:
    """What the relay dropped so far (before a viewer's pacer) and its stages' times."""
    t = json.loads(relay.get("/api/streams/demo")).get("transcoder") or {}
    e = next((e for e in t.get("encoders", []) if e["rendition"] == rung), {})
    return {
        "transcoder_dropped_units": t.get("dropped_units"),
        "encoder_dropped": e.get("dropped"),
        "encoder_frames": e.get("frames"),
        "stages_ms": {
            **{k: e.get(k) or t.get(k) for k in ("decode", "process", "scale", "encode")},
            # The source's arrival to the encoded packet, in the encoder's thread: the rung's
            # relay delay less this is the packet's wait for the event loop to publish it.
            "arrival_to_encoded": e.get("latency"),
        },
    }
