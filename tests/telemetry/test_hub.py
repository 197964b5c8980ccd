"""The hub on its own: bounded history, bad input logged once a minute per cause, and the
MAVLink field mapping for a gimbal that reports its yaw against north."""

from __future__ import annotations

import logging
import math

import pytest
from pymavlink.dialects.v20 import common as mavlink2

from relay.telemetry import hub as hub_module
from relay.telemetry.hub import HISTORY, TelemetryHub
from relay.telemetry.mavlink import MavlinkSource
from relay.telemetry.model import Telemetry
from tests.telemetry.test_mavlink import quaternion


def test_history_is_bounded_and_latest_is_the_newest() -> None:
    hub = TelemetryHub("x", clock=lambda: 2_000_000_000.0)
    for i in range(HISTORY + 50):
        hub.publish(Telemetry(time=1_999_999_999.0, source="push", alt_rel_m=float(i % 1000)))
    assert len(hub.history) == HISTORY
    view = hub.latest()
    assert view is not None and view["alt_rel_m"] == HISTORY + 49
    assert view["age_s"] == 1.0 and view["stale"] is False
    assert hub.received["push"] == HISTORY + 50


def test_bad_input_is_counted_always_and_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(hub_module.time, "monotonic", lambda: now[0])
    hub = TelemetryHub("x")
    with caplog.at_level(logging.WARNING, logger="relay.telemetry.hub"):
        for _ in range(100):
            hub.bad("mavlink_corrupt", "garbage")
        hub.bad("push_json")
        now[0] += 61
        hub.bad("mavlink_corrupt")
    assert hub.bad_input == {"mavlink_corrupt": 101, "push_json": 1}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines  # corrupt, push_json, corrupt a minute later
    assert "99 bad input(s) (mavlink_corrupt)" not in lines[2]
    assert "100 bad input(s) (mavlink_corrupt)" in lines[2]


def test_earth_frame_gimbal_yaw_is_made_relative_to_the_heading() -> None:
    sender = mavlink2.MAVLink(None, srcSystem=1)
    hub = TelemetryHub("x")
    source = MavlinkSource("127.0.0.1", 0)
    earth = 64  # GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
    status = sender.gimbal_device_attitude_status_encode(
        0, 0, 1, earth, quaternion(-45.0, 100.0), 0, 0, 0, 0
    )
    source.datagram(status.pack(sender), hub)
    assert hub.last is not None and hub.last.gimbal_yaw_deg is None  # no heading yet
    assert hub.last.gimbal_pitch_deg == pytest.approx(-45.0)
    position = sender.global_position_int_encode(1, 0, 0, 0, 0, 0, 0, 0, 9000)  # east
    source.datagram(position.pack(sender) + status.pack(sender), hub)
    assert hub.last.gimbal_yaw_deg == pytest.approx(10.0, abs=0.01)
    assert not hub.bad_input
    nan = sender.camera_fov_status_encode(1, 0, 0, 0, 0, 0, 0, [1, 0, 0, 0], math.nan, 0)
    source.datagram(nan.pack(sender), hub)
    assert hub.last.hfov_deg is None  # unknown stays absent
