"""MAVLink over UDP: a real pymavlink sender, a relay started like the other API tests; the
API shows the normalised values, stale after 5 s, and garbage never stops the source."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pymavlink import mavutil
from pymavlink.dialects.v20 import common as mavlink2

from tests.conftest import RelayFactory, RunningRelay, free_port, wait_for
from tests.telemetry.viewer_sse import viewer_auth, viewer_event

SMALL = "sim://?size=320x240&fps=10&gop=10"


def quaternion(pitch_deg: float, yaw_deg: float) -> list[float]:
    """w, x, y, z of a rotation by yaw then pitch (no roll), written out independently of
    the relay's conversion back."""
    p, y = math.radians(pitch_deg) / 2, math.radians(yaw_deg) / 2
    return [
        math.cos(p) * math.cos(y),
        -math.sin(p) * math.sin(y),
        math.sin(p) * math.cos(y),
        math.cos(p) * math.sin(y),
    ]


@pytest.fixture
def mav_port() -> int:
    return free_port(socket.SOCK_DGRAM)


@pytest.fixture
def sender(mav_port: int) -> Iterator[Any]:
    """A pymavlink UDP connection to the relay, speaking MAVLink 2 (the gimbal and camera
    messages have ids above 255)."""
    conn = mavutil.mavlink_connection(f"udpout:127.0.0.1:{mav_port}", source_system=1)
    mav = mavlink2.MAVLink(conn, srcSystem=1, srcComponent=1)
    yield mav
    conn.close()


def send_state(mav: Any, lat: float = 48.137234, battery: int = 76) -> None:
    mav.global_position_int_send(
        1000, round(lat * 1e7), 115755310, 520500, 120250, 300, -400, 0, 27050
    )
    mav.attitude_send(1000, 0.0, 0.0, math.radians(12.0), 0.0, 0.0, 0.0)  # hdg is known
    mav.gimbal_device_attitude_status_send(0, 0, 1000, 0, quaternion(-30.0, 10.0), 0.0, 0.0, 0.0, 0)
    mav.camera_fov_status_send(1000, 0, 0, 0, 0, 0, 0, [1.0, 0, 0, 0], 62.5, 48.0)
    mav.sys_status_send(0, 0, 0, 0, 0, 0, battery, 0, 0, 0, 0, 0, 0)


async def telemetry(relay: RunningRelay) -> Any:
    return (await relay.stream_status("d"))["telemetry"]


async def start(start_relay: RelayFactory, port: int) -> RunningRelay:
    stream = {
        "name": "d",
        "source": SMALL,
        "renditions": ["360p"],
        "telemetry": f"mavlink://127.0.0.1:{port}",
    }
    return await start_relay([stream], auth=viewer_auth("d"))


async def test_mavlink_values_at_the_api(
    start_relay: RelayFactory, mav_port: int, sender: Any
) -> None:
    relay = await start(start_relay, mav_port)
    assert await telemetry(relay) is None  # nothing said yet: null, not zeros
    hub = relay.relay.streams["d"].telemetry

    # UDP: the source may still be binding; send until every field has arrived.
    async def all_arrived() -> bool:
        send_state(sender)
        t = await telemetry(relay)
        return t is not None and "battery_pct" in t and "hfov_deg" in t

    deadline = time.monotonic() + 10
    while not await all_arrived():
        assert time.monotonic() < deadline, "no MAVLink telemetry at the API"
    t = await telemetry(relay)
    assert t["source"] == "mavlink"
    assert t["lat"] == pytest.approx(48.137234, abs=1e-7)
    assert t["lon"] == pytest.approx(11.575531, abs=1e-7)
    assert t["alt_msl_m"] == pytest.approx(520.5)
    assert t["alt_rel_m"] == pytest.approx(120.25)
    assert t["heading_deg"] == pytest.approx(270.5)  # GLOBAL_POSITION_INT's, not ATTITUDE's
    assert t["ground_speed_mps"] == pytest.approx(5.0)
    assert t["gimbal_pitch_deg"] == pytest.approx(-30.0, abs=0.01)
    assert t["gimbal_yaw_deg"] == pytest.approx(10.0, abs=0.01)
    assert t["hfov_deg"] == pytest.approx(62.5)
    assert t["battery_pct"] == 76
    assert t["stale"] is False and t["age_s"] < 2
    # The same values at a viewer (not an admin), in the event stream the player reads.
    send_state(sender)
    seen = await viewer_event(relay, "d", lambda e: "hfov_deg" in e and "battery_pct" in e)
    for key in ("lat", "lon", "alt_msl_m", "alt_rel_m", "heading_deg", "ground_speed_mps"):
        assert seen[key] == pytest.approx(t[key], abs=1e-7), (key, seen)
    for key in ("gimbal_pitch_deg", "gimbal_yaw_deg", "hfov_deg", "battery_pct", "source"):
        assert seen[key] == t[key], (key, seen)

    # Unknowns stay absent: battery -1 keeps the last known value, never 0 or -1.
    before = hub.received["mavlink"]
    send_state(sender, battery=-1)
    await wait_for(lambda: hub.received["mavlink"] >= before + 5, 5, "five more samples")
    assert (await telemetry(relay))["battery_pct"] == 76

    # Five seconds later without a sample: stale (the hub's clock, not a sleep).
    real = hub.clock
    hub.clock = lambda: real() + 6
    t = await telemetry(relay)
    assert t["stale"] is True and t["age_s"] >= 6


async def test_garbage_is_counted_and_the_source_keeps_running(
    start_relay: RelayFactory, mav_port: int, sender: Any
) -> None:
    relay = await start(start_relay, mav_port)
    hub = relay.relay.streams["d"].telemetry
    await wait_for_sample(relay, sender)

    frame = mavlink2.MAVLink(None, srcSystem=1)
    good = frame.global_position_int_encode(0, 0, 0, 0, 0, 0, 0, 0, 0).pack(frame)
    bad_crc = good[:-2] + bytes([good[-2] ^ 0xFF, good[-1]])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for garbage in (b"\x00not mavlink at all\xff" * 10, good[:9], bad_crc, b"\xfd"):
            raw.sendto(garbage, ("127.0.0.1", mav_port))
    await wait_for(lambda: hub.bad_input["mavlink_corrupt"] >= 4, 5, "4 corrupt datagrams")
    assert (await telemetry(relay))["lat"] == pytest.approx(48.137234, abs=1e-7)

    # Still reading: a new position arrives after the garbage.
    send_state(sender, lat=48.2)
    await wait_for(lambda: hub.last is not None and hub.last.lat == 48.2, 5, "the next sample")
    assert (await telemetry(relay))["lat"] == pytest.approx(48.2, abs=1e-7)
    async with relay.http() as http:
        async with http.get(relay.base_url + "/metrics") as resp:
            text = await resp.text()
    assert 'relay_telemetry_bad_input_total{cause="mavlink_corrupt",stream="d"} 4.0' in text
    assert 'relay_telemetry_samples_total{source="mavlink",stream="d"}' in text


async def wait_for_sample(relay: RunningRelay, sender: Any) -> None:
    deadline = time.monotonic() + 10
    while await telemetry(relay) is None:
        assert time.monotonic() < deadline, "no MAVLink telemetry at the API"
        send_state(sender)


async def test_a_port_in_use_is_counted_and_the_pictures_go_on(
    start_relay: RelayFactory, mav_port: int
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", mav_port))
        relay = await start(start_relay, mav_port)
        hub = relay.relay.streams["d"].telemetry
        await wait_for(lambda: hub.bad_input["source_failed"] == 1, 5, "the failure counted")
        await wait_for(lambda: relay.relay.streams["d"].state == "live", 10, "live pictures")
        assert (await relay.stream_status("d"))["telemetry"] is None


async def test_the_port_is_released_when_the_relay_stops(
    start_relay: RelayFactory, mav_port: int, sender: Any
) -> None:
    relay = await start(start_relay, mav_port)
    await wait_for_sample(relay, sender)
    await relay.relay.aclose()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", mav_port))  # raises while the source still holds it
