"""Where a picture point lies on the ground: the camera footprint's projection, in Python.

The same maths as web/geo.js (the map draws the footprint with it; tests/telemetry/
test_footprint.py runs both on the same points): the camera sits at the sample's position,
`alt_rel_m` above flat ground, looks along heading + gimbal yaw, pitched by the gimbal's pitch,
with the horizontal field of view `hfov_deg` over a 16:9 picture (senders give no vertical
one). The gimbal holds the picture level (no roll). Flat ground is a fair guess for the few
hundred metres a crew marks; at or above the horizon, or further than FOOTPRINT_MAX_M, there
is no answer (None), not a wild one.
"""

from __future__ import annotations

import math

from relay.telemetry.model import Telemetry

EARTH_M = 6378137.0  # WGS 84 equatorial radius, as geo.js's offset() uses it
FOOTPRINT_MAX_M = 1500.0  # geo.js cuts the drawn footprint here too
ASPECT = 16 / 9  # the picture's width/height (geo.js's ASPECT)


def offset(lat: float, lon: float, north: float, east: float) -> tuple[float, float]:
    """A position `north`, `east` metres from lat/lon (flat earth: fine within a few km)."""
    return (
        lat + math.degrees(north / EARTH_M),
        lon + math.degrees(east / (EARTH_M * math.cos(math.radians(lat)))),
    )


def ground_point(
    s: Telemetry,
    x: float,
    y: float,
    max_m: float = FOOTPRINT_MAX_M,
    aspect: float = ASPECT,
) -> tuple[float, float] | None:
    """(lat, lon) where the ray through picture point (x, y) (0..1 from the top-left corner)
    meets flat ground; None without position, height above ground (> 0), heading, gimbal
    pitch and FOV, at or above the horizon, or further than `max_m` over the ground."""
    if (
        s.lat is None
        or s.lon is None
        or s.alt_rel_m is None
        or s.heading_deg is None
        or s.gimbal_pitch_deg is None
        or s.hfov_deg is None
        or not s.alt_rel_m > 0
    ):
        return None
    az = math.radians(s.heading_deg + (s.gimbal_yaw_deg or 0.0))  # from north, clockwise
    pitch = math.radians(s.gimbal_pitch_deg)  # 0 level, -90 straight down
    tx = math.tan(math.radians(s.hfov_deg) / 2)
    a = (2 * x - 1) * tx  # right of the centre line
    b = (1 - 2 * y) * tx / aspect  # above it
    # The camera's axes in north/east/up: forward, right, and the picture's up.
    fwd = (math.cos(pitch) * math.cos(az), math.cos(pitch) * math.sin(az), math.sin(pitch))
    right = (-math.sin(az), math.cos(az), 0.0)
    up = (-math.sin(pitch) * math.cos(az), -math.sin(pitch) * math.sin(az), math.cos(pitch))
    d = [fwd[i] + a * right[i] + b * up[i] for i in range(3)]
    if d[2] >= 0:
        return None  # at or above the horizon: the ray never meets the ground
    ground = math.hypot(d[0], d[1])
    dist = s.alt_rel_m * ground / -d[2]
    if dist > max_m:
        return None
    if ground == 0:
        return (s.lat, s.lon)
    return offset(s.lat, s.lon, d[0] / ground * dist, d[1] / ground * dist)
