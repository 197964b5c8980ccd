"""The relay's own delay figure for a viewer includes the viewer's send queue (its pacer):
the viewer's status and the operator's viewer list show both parts and their sum."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from relay.webrtc import pacer
from tests.conftest import RelayFactory
from tests.whep_client import WhepViewer

SIM = {"name": "demo", "source": "sim://?size=640x360&fps=30&gop=30", "renditions": ["360p"]}


async def test_the_relay_delay_includes_the_send_queue(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = await start_relay([SIM])
    viewer = WhepViewer(relay.base_url, "demo", token=relay.token)
    await viewer.start()
    try:
        await viewer.wait_frames(10)
        session = next(iter(relay.relay.sessions.sessions.values()))
        # Paced at half of whatever target it gets (a clear link's too), below the rung's
        # rate: frames wait in the pacer, as they do behind a busy send path.
        monkeypatch.setattr(pacer, "PACING_FACTOR", 0.5)
        monkeypatch.setattr(pacer, "CLEAR_PACING_FACTOR", 0.5, raising=False)
        session.track.pacer.set_target_bps(1)
        deadline = time.monotonic() + 10
        own: dict[str, Any] = {}
        while time.monotonic() < deadline:
            async with relay.http() as http:
                async with http.get(relay.base_url + str(viewer.location)) as resp:
                    own = await resp.json()
            if (own.get("send_queue_ms") or 0) > 20:
                break
            await asyncio.sleep(0.2)
        assert own.get("send_queue_ms", 0) > 20, own
        assert own["rung_delay_ms"] is not None and own["rung_delay_ms"] > 0, own
        parts = own["rung_delay_ms"] + own["send_queue_ms"]
        assert own["relay_delay_ms"] >= parts - 0.2 and own["relay_delay_ms"] > own["rung_delay_ms"]
        # The viewer list (operators) shows the same fields.
        listed = (await relay.stream_status("demo"))["viewer_sessions"][0]
        assert {"relay_delay_ms", "rung_delay_ms", "send_queue_ms"} <= set(listed), listed
    finally:
        await viewer.close()
