"""One telemetry model for every source (MAVLink, MISB ST 0601 KLV, DJI Cloud API OSD, HTTP
push): what the API returns, what viewers get with the video, what an incident records.

Missing values are absent (None), never zero-filled: a drone at 0 m altitude and a drone that
did not say its altitude must look different on a commander's screen. Ranges are declared
once here; a sender outside them (a corrupt packet, a bridge's bug) is refused, not clamped.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

STALE_S = 5.0  # older than this, every view shows it as stale, not as current
SOURCES = ("mavlink", "klv", "dji", "push")

Lat = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Altitude = Annotated[float, msgspec.Meta(ge=-1_000.0, le=20_000.0)]  # m
Heading = Annotated[float, msgspec.Meta(ge=0.0, lt=360.0)]  # degrees from true north
Speed = Annotated[float, msgspec.Meta(ge=0.0, le=200.0)]  # m/s over ground
Angle = Annotated[float, msgspec.Meta(ge=-180.0, le=360.0)]  # gimbal pitch/yaw, degrees
Fov = Annotated[float, msgspec.Meta(gt=0.0, le=180.0)]  # horizontal field of view, degrees
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
Celsius = Annotated[float, msgspec.Meta(ge=-100.0, le=2_000.0)]  # as the sender measured it
UnixTime = Annotated[float, msgspec.Meta(ge=946_684_800.0, le=4_102_444_800.0)]  # 2000..2100


class Telemetry(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One sample, normalised. `time` is UTC (Unix seconds) when the drone measured it, or
    when the relay received it if the sender gave no time. Temperatures come only from the
    sender (a radiometric camera's own figures), never from pixel values."""

    time: UnixTime
    source: str = ""  # one of SOURCES; set by the relay, not by a pushing client
    lat: Lat | None = None
    lon: Lon | None = None
    alt_msl_m: Altitude | None = None
    alt_rel_m: Altitude | None = None  # above the take-off point
    heading_deg: Heading | None = None
    ground_speed_mps: Speed | None = None
    gimbal_pitch_deg: Angle | None = None  # 0: level, -90: straight down
    gimbal_yaw_deg: Angle | None = None  # relative to the aircraft's heading
    hfov_deg: Fov | None = None
    target_lat: Lat | None = None  # where the camera's centre line meets the ground (KLV
    target_lon: Lon | None = None  # frame centre): the map's footprint needs no own guess
    battery_pct: Percent | None = None
    temp_max_c: Celsius | None = None  # the thermal payload's hottest reading
    temp_spot_c: Celsius | None = None  # its metering point's reading
    # Views for a moment between or after measurements (relay.telemetry.interpolate), never
    # shown as measured: between two samples (DJI's 0.5 Hz positions), or carried on after
    # the newest; `measured_time` is the newest measurement the view rests on.
    interpolated: bool = False
    estimated: bool = False
    measured_time: UnixTime | None = None

    def view(self, now: float) -> dict[str, Any]:
        """The sample as every view shows it: its fields, its age and whether it is stale."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        # An interpolated or estimated view is as old as the newest measurement it rests on.
        age = max(0.0, now - (self.time if self.measured_time is None else self.measured_time))
        out["age_s"] = round(age, 2)
        out["stale"] = age > STALE_S
        return out


def parse_push(body: bytes, now: float) -> Telemetry:
    """A pushed sample (`POST /api/streams/{name}/telemetry`), the normalised form as JSON;
    its time defaults to `now`. Raises msgspec.ValidationError / DecodeError for anything
    else (the route answers 400 with the reason)."""
    raw = msgspec.json.decode(body)
    if not isinstance(raw, dict):
        raise msgspec.ValidationError("telemetry must be a JSON object")
    if "source" in raw:
        raise msgspec.ValidationError("source is set by the relay, not by the sender")
    raw.setdefault("time", now)
    raw["source"] = "push"
    return msgspec.convert(raw, Telemetry)
