"""Telemetry for a moment between or after measurements: what a viewer sees beside a frame.

A viewer's frame was captured some hundred milliseconds ago; a DJI aircraft says where it is
every 2 s. To show the position of the frame on screen, the view for a time `t` is:

- **measured**: a sample measured within EXACT_S of `t` (any source at 10 Hz or more), as it is;
- **interpolated** (`"interpolated": true`): between the measurements just before and just
  after `t`, linearly (headings along the shorter arc), when they are at most MAX_GAP_S apart;
- **estimated** (`"estimated": true`): after the newest measurement, position and altitude
  carried on at their rate since a measurement at least RATE_OVER_S before it, for at most
  HORIZON_S; the other fields held. Further on, the newest measurement itself, its age
  growing until it is stale.

An interpolated or estimated view is never shown as measured: it is marked, and its
`measured_time` is the newest measurement it rests on (its age, and whether it is stale,
count from there).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import msgspec

from relay.telemetry.model import Telemetry

EXACT_S = 0.1  # a measurement this close to `t` is within the 100 ms a viewer is promised
MAX_GAP_S = 10.0  # further apart (a link that was down), nothing is drawn between them
RATE_OVER_S = 2 * EXACT_S  # an estimate's rate is taken over at least this long
HORIZON_S = 3.0  # DJI's OSD period (2 s), its way here, a player's lead: no estimate further
# Carried on after the newest measurement (where the drone goes); the rest is held.
MOVING = ("lat", "lon", "alt_msl_m", "alt_rel_m")
LINEAR = (
    *MOVING,
    *("target_lat", "target_lon", "ground_speed_mps", "gimbal_pitch_deg", "gimbal_yaw_deg"),
    *("hfov_deg", "battery_pct"),
)
CIRCULAR = ("heading_deg",)  # 359° to 1° passes north, not south


def _lerp(a: float, b: float, f: float) -> float:
    return a + (b - a) * f


def _arc(a: float, b: float, f: float) -> float:
    return (a + ((b - a + 180.0) % 360.0 - 180.0) * f) % 360.0


def _mixed(
    before: Telemetry, after: Telemetry, f: float, fields: Sequence[str]
) -> dict[str, float]:
    """The fields both samples carry, at fraction `f` from `before` to `after`."""
    out: dict[str, float] = {}
    for name in fields:
        a, b = getattr(before, name), getattr(after, name)
        if a is not None and b is not None:
            out[name] = _arc(a, b, f) if name in CIRCULAR else _lerp(a, b, f)
    return out


def view_at(samples: Sequence[Telemetry], t: float) -> Telemetry | None:
    """The sample for time `t` from measurements in time order (see the module's rules), or
    None before there is any. Never a measured-looking value that was not measured."""
    if not samples:
        return None
    times = [s.time for s in samples]
    i = bisect.bisect_right(times, t)  # samples[:i] at or before t
    before = samples[i - 1] if i else None
    after = samples[i] if i < len(samples) else None
    nearest = min((s for s in (before, after) if s is not None), key=lambda s: abs(s.time - t))
    if abs(nearest.time - t) <= EXACT_S:
        return nearest
    if before is None:  # before the first measurement: nothing to say about it
        return None
    if after is not None:
        if after.time - before.time > MAX_GAP_S:
            return before
        f = (t - before.time) / (after.time - before.time)
        base = before if f < 0.5 else after
        fields = _mixed(before, after, f, (*LINEAR, *CIRCULAR))
        return msgspec.structs.replace(
            base, time=t, interpolated=True, measured_time=after.time, **fields
        )
    # After the newest measurement: carried on at the rate since one at least RATE_OVER_S
    # earlier (messages of one burst, a millisecond apart, give no rate), for a short while.
    if t - before.time > HORIZON_S:
        return before
    j = bisect.bisect_right(times, before.time - RATE_OVER_S)
    if j == 0 or before.time - samples[j - 1].time > MAX_GAP_S:
        return before
    prev = samples[j - 1]
    f = 1.0 + (t - before.time) / (before.time - prev.time)
    moved = _mixed(prev, before, f, MOVING)
    return msgspec.structs.replace(
        before, time=t, estimated=True, measured_time=before.time, **moved
    )
