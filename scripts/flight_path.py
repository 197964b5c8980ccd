"""The fake drone's flight, one model for its KLV (scripts/klv_make.py) and its MAVLink
(scripts/mavlink_out.py): a 200 m circle at 120 m, one lap a minute, the camera 45 degrees
down and to the right, towards the circle's centre; the battery drains as it flies."""

from __future__ import annotations

import math
from dataclasses import dataclass

CENTRE = (48.137, 11.575)  # Munich, Marienplatz
RADIUS_M = 200.0
LAP_S = 60.0
ALT_MSL_M = 120.0
GROUND_MSL_M = 0.0  # the sim's flat ground
EARTH_M = 111_320.0  # metres per degree of latitude


@dataclass(frozen=True)
class Pose:
    """Where the drone is and where its camera looks, at one moment."""

    lat: float
    lon: float
    alt_msl_m: float
    alt_rel_m: float
    heading_deg: float
    ground_speed_mps: float
    gimbal_pitch_deg: float  # 0 level, -90 straight down
    gimbal_yaw_deg: float  # relative to the heading
    hfov_deg: float
    vfov_deg: float
    battery_pct: float
    target_lat: float  # where the camera looks (KLV's frame centre)
    target_lon: float
    target_msl_m: float


def circle(t: float, centre: tuple[float, float] = CENTRE) -> Pose:
    """The pose `t` seconds into the flight: clockwise seen from above, starting north of
    the centre heading east (the centre then lies to the right: gimbal yaw +90)."""
    angle = 2 * math.pi * t / LAP_S
    lat = centre[0] + RADIUS_M / EARTH_M * math.cos(angle)
    lon = centre[1] + RADIUS_M / (EARTH_M * math.cos(math.radians(centre[0]))) * math.sin(angle)
    return Pose(
        lat=lat,
        lon=lon,
        alt_msl_m=ALT_MSL_M,
        alt_rel_m=ALT_MSL_M - GROUND_MSL_M,
        heading_deg=(math.degrees(angle) + 90.0) % 360.0,
        ground_speed_mps=float(round(2 * math.pi * RADIUS_M / LAP_S)),
        gimbal_pitch_deg=-45.0,
        gimbal_yaw_deg=90.0,
        hfov_deg=62.0,
        vfov_deg=36.0,
        battery_pct=max(20.0, 100.0 - t / 30.0),  # 1 % every 30 s, landing at 20 %
        target_lat=centre[0],
        target_lon=centre[1],
        target_msl_m=GROUND_MSL_M,
    )
