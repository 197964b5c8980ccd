"""The camera footprint's projection in Python (relay/telemetry/footprint.py): a picture point
onto flat ground; the same answers as web/geo.js's groundPoint in Chromium; and a mark made on
a stream with pushed telemetry stores the ground position it points at."""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import pytest

from relay.telemetry.footprint import ground_point
from relay.telemetry.model import Telemetry
from tests.api.test_access import call
from tests.conftest import ADMIN_TOKEN, RelayFactory
from tests.e2e.browser import chromium
from tests.telemetry.test_push import push, start
from tests.test_map_geo import R

DRONE = {"lat": 48.0, "lon": 11.0, "alt_rel_m": 100.0, "heading_deg": 0.0, "hfov_deg": 90.0}


def sample(**fields: Any) -> Telemetry:
    return Telemetry(time=time.time(), **{**DRONE, **fields})


def metres(lat: float, lon: float) -> tuple[float, float]:
    """(north, east) metres from the drone to lat/lon (flat earth)."""
    north = math.radians(lat - DRONE["lat"]) * R
    east = math.radians(lon - DRONE["lon"]) * R * math.cos(math.radians(DRONE["lat"]))
    return north, east


def at(s: Telemetry, x: float, y: float) -> tuple[float, float]:
    found = ground_point(s, x, y)
    assert found is not None, (s, x, y)
    return metres(*found)


def test_straight_down_the_centre_is_under_the_drone_and_the_top_is_ahead() -> None:
    s = sample(gimbal_pitch_deg=-90.0)
    assert at(s, 0.5, 0.5) == pytest.approx((0, 0), abs=1e-6)
    # 90 degrees FOV from 100 m: the picture's edges are 100 m right, 56 m (16:9) ahead.
    assert at(s, 1.0, 0.5) == pytest.approx((0, 100), abs=0.01)
    assert at(s, 0.5, 0.0) == pytest.approx((100 * 9 / 16, 0), abs=0.01)
    assert at(s, 0.0, 1.0) == pytest.approx((-100 * 9 / 16, -100), abs=0.01)
    # Heading east: the picture's top is east, its right is south.
    east = sample(gimbal_pitch_deg=-90.0, heading_deg=90.0)
    assert at(east, 0.5, 0.0) == pytest.approx((0, 100 * 9 / 16), abs=0.01)
    assert at(east, 1.0, 0.5) == pytest.approx((-100, 0), abs=0.01)


def test_a_tilted_camera_looks_along_heading_plus_gimbal_yaw() -> None:
    # 60 + 30 = east, 45 degrees down from 100 m: the centre line meets the ground 100 m east.
    s = sample(heading_deg=60.0, gimbal_yaw_deg=30.0, gimbal_pitch_deg=-45.0)
    assert at(s, 0.5, 0.5) == pytest.approx((0, 100), abs=0.01)
    # Higher in the picture is further away; left of the centre is north when facing east.
    assert at(s, 0.5, 0.3)[1] > 100 and at(s, 0.2, 0.5)[0] > 0


def test_no_ground_above_the_horizon_beyond_the_cut_or_without_a_pose() -> None:
    level = sample(gimbal_pitch_deg=0.0)
    assert ground_point(level, 0.5, 0.2) is None  # above the horizon
    assert ground_point(level, 0.5, 0.5) is None  # on it
    low = at(level, 0.5, 1.0)  # the bottom edge meets the ground: 100 m / tan(vfov/2) ahead
    assert low[0] == pytest.approx(100 / (9 / 16), rel=1e-6)
    assert ground_point(level, 0.5, 0.55) is None  # just below the horizon: kilometres away
    assert ground_point(level, 0.5, 0.55, max_m=1e9) is not None
    for missing in ("lat", "lon", "alt_rel_m", "heading_deg", "hfov_deg"):
        assert ground_point(sample(gimbal_pitch_deg=-90.0, **{missing: None}), 0.5, 0.5) is None
    assert ground_point(sample(), 0.5, 0.5) is None  # no gimbal pitch
    assert ground_point(sample(gimbal_pitch_deg=-90.0, alt_rel_m=0.0), 0.5, 0.5) is None


POSES = [
    {"gimbal_pitch_deg": -90.0},
    {"gimbal_pitch_deg": -30.0, "heading_deg": 135.0, "gimbal_yaw_deg": -20.0, "hfov_deg": 70.0},
    {"gimbal_pitch_deg": -60.0, "heading_deg": 359.0, "alt_rel_m": 45.5, "hfov_deg": 30.0},
    {"gimbal_pitch_deg": -5.0, "heading_deg": 270.0, "lat": -33.9, "lon": 151.2},
]
POINTS = [(x, y) for x, y in itertools.product((0.0, 0.25, 0.5, 0.9, 1.0), (0.0, 0.4, 0.5, 1.0))]


async def test_python_and_the_maps_javascript_agree(start_relay: RelayFactory) -> None:
    """web/geo.js's groundPoint, run in Chromium from the relay's own page, gives the same
    positions (and the same None) as ground_point for every pose and point."""
    relay = await start(start_relay)
    cases = [{**DRONE, **pose} for pose in POSES]
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(relay.login_url)
        got = await page.evaluate(
            """async ([cases, points]) => {
              const g = await import("/static/geo.js");
              return cases.map((s) => points.map(([x, y]) => g.groundPoint(s, x, y)));
            }""",
            [cases, POINTS],
        )
    compared = 0
    for case, row in zip(cases, got, strict=True):
        s = Telemetry(time=time.time(), **case)
        for (x, y), js in zip(POINTS, row, strict=True):
            py = ground_point(s, x, y)
            assert (py is None) == (js is None), (case, x, y, py, js)
            if py is not None:
                compared += 1
                assert py == pytest.approx((js["lat"], js["lon"]), abs=1e-9), (case, x, y)
    assert compared >= 40  # most points meet the ground: the comparison is not all None


async def test_a_mark_stores_where_on_the_ground_it_points(start_relay: RelayFactory) -> None:
    relay = await start(start_relay)  # stream p takes pushed telemetry
    pose = {**DRONE, "gimbal_pitch_deg": -90.0, "heading_deg": 90.0}  # nadir, top = east
    assert (await push(relay, pose, ADMIN_TOKEN, "p"))[0] == 204
    marks = "/api/streams/p/annotations"
    centre = {"kind": "circle", "x": 0.5, "y": 0.5, "label": "Brandherd"}
    status, made = await call(relay, "POST", marks, ADMIN_TOKEN, json=centre)
    assert status == 201, made
    assert metres(*made["ground"]) == pytest.approx((0, 0), abs=0.01)  # under the drone
    # An arrow points with its tip: the top edge's middle is 56 m east (ahead).
    arrow = {"kind": "arrow", "x": 0.2, "y": 0.8, "x2": 0.5, "y2": 0.0}
    status, made = await call(relay, "POST", marks, ADMIN_TOKEN, json=arrow)
    assert status == 201 and metres(*made["ground"]) == pytest.approx((0, 56.25), abs=0.01)
    status, listed = await call(relay, "GET", marks, ADMIN_TOKEN)
    assert [m["ground"] is not None for m in listed["annotations"]] == [True, True]
    # Looking at the horizon: no ground, the mark is kept without it.
    assert (await push(relay, {**pose, "gimbal_pitch_deg": 0.0}, ADMIN_TOKEN, "p"))[0] == 204
    status, made = await call(relay, "POST", marks, ADMIN_TOKEN, json={**centre, "y": 0.2})
    assert status == 201 and made["ground"] is None
