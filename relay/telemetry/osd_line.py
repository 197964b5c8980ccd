"""The telemetry line the OSD burns into a stream's rungs (config `osd_telemetry`): the chosen
fields of the view for the frame being encoded, in German like the rest of the OSD.

Read in the encoder threads, never on the event loop and without locks: the hub replaces an
immutable tuple of its measurements (`TelemetryHub.track`) on the loop, and a reader takes
whichever tuple is current. The text is made at most REFRESH_S apart (rasterising it costs
more than blending it; relay.transcode.text caches the mask by text).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from relay.telemetry.interpolate import view_at
from relay.telemetry.model import Telemetry


def _comma(value: float, places: int) -> str:
    return f"{value:.{places}f}".replace(".", ",")


def _lat(v: float) -> str:
    return f"{_comma(abs(v), 5)}° {'N' if v >= 0 else 'S'}"


def _lon(v: float) -> str:
    return f"{_comma(abs(v), 5)}° {'E' if v >= 0 else 'W'}"  # as the player writes it


# Field -> how the OSD writes it. The keys are what `osd_telemetry` may name.
FORMATS: dict[str, Callable[[float], str]] = {
    "lat": _lat,
    "lon": _lon,
    "alt_rel_m": lambda v: f"{_comma(v, 1)} m über Start",
    "alt_msl_m": lambda v: f"{_comma(v, 1)} m ü. NN",
    "heading_deg": lambda v: f"Kurs {v:.0f}°",
    "ground_speed_mps": lambda v: f"{v * 3.6:.0f} km/h",  # what a crew reads off a vehicle
    "gimbal_pitch_deg": lambda v: f"Kamera {v:.0f}°",
    "gimbal_yaw_deg": lambda v: f"Kamera-Gier {v:.0f}°",
    "hfov_deg": lambda v: f"Bildwinkel {v:.0f}°",
    "battery_pct": lambda v: f"Akku {v:.0f} %",
    "temp_max_c": lambda v: f"max. {v:.0f} °C",
    "temp_spot_c": lambda v: f"Messpunkt {v:.0f} °C",
}
REFRESH_S = 0.2  # 5 times a second: a line that changes every frame could not be read


def check_fields(fields: tuple[str, ...]) -> tuple[str, str] | None:
    """(key, reason) for a bad `osd_telemetry`, or None."""
    for i, name in enumerate(fields):
        if name not in FORMATS:
            return f"[{i}]", f"{name!r} is not a telemetry field; use one of {', '.join(FORMATS)}"
        if name in fields[:i]:
            return f"[{i}]", f"{name!r} is named twice"
    return None


def line_text(view: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    """The chosen fields of a view (Telemetry.view), marked when not current or not measured;
    None when the view has none of them (nothing is drawn)."""
    parts = [FORMATS[name](view[name]) for name in fields if view.get(name) is not None]
    if not parts:
        return None
    text = " · ".join(parts)
    if view.get("stale"):
        return f"VERALTET ({view['age_s']:.0f} s) · {text}"
    if view.get("interpolated"):
        return f"{text} (interpoliert)"
    if view.get("estimated"):
        return f"{text} (geschätzt)"
    return text


class TelemetryLine:
    """Per rung: `(text, stale)` for the frame encoded now, or None. Not shared between
    threads (its cache is its own)."""

    def __init__(
        self,
        track: Callable[[], tuple[Telemetry, ...]],
        fields: tuple[str, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._track = track
        self.fields = fields
        self._clock = clock
        self._made = -1e9  # time.monotonic() of the cached line
        self._line: tuple[str, bool] | None = None

    def __call__(self) -> tuple[str, bool] | None:
        made = time.monotonic()
        if made - self._made < REFRESH_S:
            return self._line
        self._made = made
        now = self._clock()
        sample = view_at(self._track(), now)
        view = None if sample is None else sample.view(now)
        text = None if view is None else line_text(view, self.fields)
        self._line = None if text is None or view is None else (text, bool(view["stale"]))
        return self._line
