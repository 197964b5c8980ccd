"""web/geo.js under Node: Web Mercator as map tiles use it, and the camera's ground footprint
(flat ground, the four picture corners, cut at a maximum distance above the horizon)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

GEO = Path(__file__).resolve().parent.parent / "web" / "geo.js"
R = 6378137.0


def geo(expression: str) -> Any:
    """The JSON value of `expression`, evaluated with web/geo.js's exports in scope."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    script = f"import * as g from {json.dumps(GEO.as_uri())};\n"
    script += f"console.log(JSON.stringify({expression}));"
    out = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def metres(a: dict[str, float], b: dict[str, float]) -> tuple[float, float]:
    """(north, east) metres from a to b (flat earth)."""
    north = math.radians(b["lat"] - a["lat"]) * R
    east = math.radians(b["lon"] - a["lon"]) * R * math.cos(math.radians(a["lat"]))
    return north, east


def test_mercator_matches_the_tile_scheme() -> None:
    # Tile 0/0/0 is the whole world; a position's tile at zoom 17 by the slippy-map formula.
    p = geo("[g.project(0, 0, 0), g.project(48.1372, 11.5755, 17), g.unproject(128, 128, 0)]")
    assert p[0] == {"x": 128, "y": 128}
    n, lat = 2**17, math.radians(48.1372)
    tile = (int((11.5755 + 180) / 360 * n), int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * n))
    assert (int(p[1]["x"] // 256), int(p[1]["y"] // 256)) == tile
    assert p[2]["lat"] == pytest.approx(0, abs=1e-9) and p[2]["lon"] == pytest.approx(0)
    back = geo(
        "(() => { const q = g.project(48.1, 11.5, 15.5); return g.unproject(q.x, q.y, 15.5); })()"
    )
    assert back["lat"] == pytest.approx(48.1, abs=1e-9) and back["lon"] == pytest.approx(11.5)


SAMPLE = {"lat": 48.0, "lon": 11.0, "alt_rel_m": 100.0, "heading_deg": 0.0, "hfov_deg": 90.0}


def test_footprint_straight_down_is_a_rectangle_ahead_up() -> None:
    s = {**SAMPLE, "gimbal_pitch_deg": -90.0}
    corners = geo(f"g.footprint({json.dumps(s)}, 1500, 1)")  # square picture
    got = [metres(s, c) for c in corners]
    # top-left, top-right, bottom-right, bottom-left: the picture's top is ahead (north).
    for (n, e), want in zip(got, [(100, -100), (100, 100), (-100, 100), (-100, -100)], strict=True):
        assert n == pytest.approx(want[0], abs=0.5) and e == pytest.approx(want[1], abs=0.5)


def test_footprint_turns_with_heading_and_gimbal_yaw() -> None:
    # Heading 60 + gimbal yaw 30 = looking east, 45 degrees down from 100 m: the centre line
    # meets the ground 100 m east; a narrow FOV keeps the corners near it.
    s = {**SAMPLE, "heading_deg": 60.0, "gimbal_yaw_deg": 30.0, "gimbal_pitch_deg": -45.0}
    corners = geo(f"g.footprint({json.dumps({**s, 'hfov_deg': 0.5})})")
    for n, e in (metres(s, c) for c in corners):
        assert n == pytest.approx(0, abs=2) and e == pytest.approx(100, abs=2)
    wide = [metres(s, c) for c in geo(f"g.footprint({json.dumps({**s, 'hfov_deg': 60.0})})")]
    # The far (top) edge is longer and further than the near (bottom) one: a trapezoid.
    assert wide[0][1] > wide[3][1] and wide[1][1] > wide[2][1]
    assert abs(wide[0][0] - wide[1][0]) > abs(wide[3][0] - wide[2][0])
    assert wide[0][0] > 0 > wide[1][0]  # top-left is north of the line of sight when facing east


def test_footprint_above_the_horizon_is_cut_at_the_maximum() -> None:
    s = {**SAMPLE, "gimbal_pitch_deg": 0.0}  # level: the top corners look up
    corners = geo(f"g.footprint({json.dumps(s)}, 1500)")
    top = [math.hypot(*metres(s, c)) for c in corners[:2]]
    bottom = [math.hypot(*metres(s, c)) for c in corners[2:]]
    assert top == pytest.approx([1500, 1500], abs=1)
    # The bottom rays meet the ground: 100 m / tan(vfov/2) ahead, widened by the corner.
    ty = math.tan(math.radians(45)) / (16 / 9)
    assert bottom[0] == pytest.approx(100 / ty * math.hypot(1, 1), rel=0.01)
    assert bottom[0] < 1500


@pytest.mark.parametrize(
    "missing", ["lat", "alt_rel_m", "heading_deg", "hfov_deg", "gimbal_pitch_deg"]
)
def test_no_footprint_without_what_it_needs(missing: str) -> None:
    s = {k: v for k, v in {**SAMPLE, "gimbal_pitch_deg": -90.0}.items() if k != missing}
    assert geo(f"g.footprint({json.dumps(s)})") is None


def test_no_footprint_on_the_ground() -> None:
    assert (
        geo(f"g.footprint({json.dumps({**SAMPLE, 'alt_rel_m': 0, 'gimbal_pitch_deg': -90})})")
        is None
    )
