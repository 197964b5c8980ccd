"""scripts/fake_drone.py --mavlink: the fake drone's video and its flight as MAVLink reach a
relay stream (udp:// MPEG-TS + mavlink://), and the drone flies its circle on the API."""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import RelayFactory, free_port, wait_for
from tests.test_fake_drone import SCRIPT

CENTRE = (48.137, 11.575)


def from_centre(t: dict[str, Any]) -> tuple[float, float]:
    """(north, east) metres from the circle's centre."""
    north = (t["lat"] - CENTRE[0]) * 111_320
    east = (t["lon"] - CENTRE[1]) * 111_320 * math.cos(math.radians(CENTRE[0]))
    return north, east


async def test_fake_drone_flies_with_video_and_mavlink(start_relay: RelayFactory) -> None:
    video, mav = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    stream = {
        "name": "fake",
        "source": f"udp://127.0.0.1:{video}",
        "renditions": ["360p"],
        "telemetry": f"mavlink://127.0.0.1:{mav}",
    }
    relay = await start_relay([stream])
    args = [f"udp://127.0.0.1:{video}", "--size", "320x240", "--fps", "10", "--gop", "10"]
    drone = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            *args,
            "--mavlink",
            f"udp://127.0.0.1:{mav}",
            "--seconds",
            "8",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        hub = relay.relay.streams["fake"].telemetry
        await wait_for(lambda: len(hub.history) >= 10, 15, "MAVLink samples")
        first = (await relay.stream_status("fake"))["telemetry"]
        await wait_for(lambda: relay.relay.streams["fake"].state == "live", 15, "the video")
        await asyncio.sleep(1.0)
        status = await relay.stream_status("fake")
        later = status["telemetry"]
    finally:
        drone.terminate()
        _, err = drone.communicate(timeout=20)
    assert drone.returncode == 0, err
    assert hub.bad_input == {}, hub.bad_input
    for t in (first, later):
        assert t["source"] == "mavlink" and t["stale"] is False
        assert math.hypot(*from_centre(t)) == pytest.approx(200, abs=1)  # on the circle
        assert t["alt_rel_m"] == pytest.approx(120) and t["alt_msl_m"] == pytest.approx(120)
        assert t["hfov_deg"] == pytest.approx(62) and t["ground_speed_mps"] == pytest.approx(21)
        assert t["gimbal_pitch_deg"] == pytest.approx(-45, abs=0.1)
        assert t["gimbal_yaw_deg"] == pytest.approx(90, abs=0.1)  # towards the centre
        assert 90 < t["battery_pct"] <= 100
        # Heading along the circle: the centre lies to the right (clockwise flight).
        north, east = from_centre(t)
        bearing_to_centre = math.degrees(math.atan2(-east, -north)) % 360
        assert (bearing_to_centre - t["heading_deg"]) % 360 == pytest.approx(90, abs=1)
    # It flies: 6 degrees of the circle a second, about 21 m.
    moved = math.dist(from_centre(first), from_centre(later))
    assert moved > 15, f"moved only {moved:.1f} m in over a second"
    assert "sent MAVLink" in err
