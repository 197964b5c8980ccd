"""Thermal pictures: palette, isotherm and hotspot marker on a yuv420p frame, in place.

A thermal stream's camera sends white-hot luma (docs/thermal.md). Once per source frame, on
the shared path before the rungs scale (relay.transcode.transcoder), the hottest blurred
region is found on that luma, the palette's tables (relay.transcode.palettes) colour the
frame, and the hotspot is marked. Only when a rung has a palette of its own is this done per
rung instead, on each rung's scaled picture: one palette for all costs once.

Chroma is subsampled 2x2: each chroma sample takes the palette's U/V at its 2x2 block's mean
luma (cv2.resize INTER_AREA, the mean of the four), so an edge between two colours is as
sharp as 4:2:0 allows. A 640x512 frame takes well under 2 ms (scripts/bench_thermal.py).

The hotspot is labelled as relative ("heißester Bereich"): temperatures are never derived
from pixel values. Only a radiometric camera's own reading, passed in with its source
(ThermalControl.set_temperature, e.g. DJI's thermal_global_temperature_max), is shown, and
only while it is fresh.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import av
import cv2
import numpy as np
import numpy.typing as npt

from relay.config.model import StreamConfig, ThermalTable
from relay.telemetry.model import STALE_S
from relay.transcode.palettes import Lut, lut
from relay.transcode.processors.osd import planes
from relay.transcode.text import blend_label, text_mask
from relay.transcode.transcoder import Transcoder

log = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]

# The hottest region is looked for on the luma scaled down to about this width (a 640-wide
# frame by 4) and blurred: a region, not one hot pixel of sensor noise.
DETECT_WIDTH = 160
BLUR_SIGMA = 2.0  # in pixels of the scaled-down luma: about 8 px of a 640-wide frame
# A picture whose blurred maximum is less than this above its mean (luma levels, a tenth
# of the scale) has no hotspot worth pointing at: nothing is drawn.
MIN_CONTRAST = 24
RELATIVE_LABEL = "heißester Bereich"  # the OSD speaks German (relay.transcode.processors.osd)
MARK_Y, OUTLINE_Y, NEUTRAL = 235, 16, 128  # white ring, black edge, no colour
# Telemetry's source names (relay.telemetry.model.SOURCES) as the label shows them.
SOURCE_LABELS = {"dji": "DJI", "mavlink": "MAVLink", "klv": "KLV", "push": "Push"}


@dataclass(frozen=True)
class ThermalSettings:
    """What an operator selects; replaced as a whole, so a frame never sees half a change."""

    palette: str
    isotherm: int | None  # luma at or above it in the isotherm colour; None: off
    hotspot: bool


@dataclass(frozen=True)
class Reading:
    """A radiometric camera's own temperature, with who said so and when (monotonic s)."""

    celsius: float
    source: str
    at: float


class ThermalControl:
    """A thermal stream's palette, isotherm and hotspot label: read by its processors once per
    frame (in their threads), changed by an operator (on the event loop)."""

    def __init__(self, stream: str, table: ThermalTable, rung_palettes: dict[str, str]) -> None:
        self.stream = stream
        self.settings = ThermalSettings(table.palette, table.isotherm, table.hotspot)
        self.rung_palettes = dict(rung_palettes)  # from the config; fixed while it runs
        self._reading: Reading | None = None

    @property
    def shared(self) -> bool:
        """One palette for all rungs: coloured once, on the shared path."""
        return not self.rung_palettes

    def palette_for(self, rung: str | None) -> str:
        """The palette of `rung` (None: the stream's)."""
        return self.rung_palettes.get(rung or "", self.settings.palette)

    def select(self, palette: str, isotherm: int | None) -> ThermalSettings:
        """Sets the stream's palette and isotherm (None: off); returns the settings before."""
        before, self.settings = (
            self.settings,
            replace(self.settings, palette=palette, isotherm=isotherm),
        )
        settings = self.settings
        log.info(
            "[stream %s] thermal: palette %s, isotherm %s",
            self.stream,
            settings.palette,
            settings.isotherm,
        )
        return before

    def set_temperature(self, celsius: float | None, source: str = "") -> None:
        """The camera's hottest reading and its source ("DJI"), or None: the label says
        "heißester Bereich" again. A reading older than STALE_S is not shown."""
        label = SOURCE_LABELS.get(source, source)
        self._reading = None if celsius is None else Reading(celsius, label, time.monotonic())

    def label(self) -> str:
        """The hotspot's label: the fresh reading with its source, else relative."""
        reading = self._reading
        if reading is None or time.monotonic() - reading.at > STALE_S:
            return RELATIVE_LABEL
        return hotspot_label(reading.celsius, reading.source)

    def status(self) -> dict[str, Any]:
        """For GET /api/streams/{name}."""
        return {
            **asdict(self.settings),
            "rung_palettes": dict(self.rung_palettes),
            "hotspot_label": self.label(),
        }


def hotspot_label(celsius: float | None = None, source: str = "") -> str:
    """ "63 °C (DJI)" for a camera's own reading, "heißester Bereich" without one."""
    if celsius is None:
        return RELATIVE_LABEL
    return f"{celsius:.0f} °C ({source})" if source else f"{celsius:.0f} °C"


def block_means(y: U8, u: U8) -> U8:
    """Each 2x2 block's mean luma, at the chroma planes' size."""
    return cast(U8, cv2.resize(y, (u.shape[1], u.shape[0]), interpolation=cv2.INTER_AREA))


def paint(y: U8, u: U8, v: U8, table: Lut, means: U8 | None = None) -> None:
    """Colours the planes in place: chroma from each 2x2 block's mean luma, then the luma."""
    if means is None:
        means = block_means(y, u)
    cv2.LUT(means, table.u, dst=u)
    cv2.LUT(means, table.v, dst=v)
    cv2.LUT(y, table.y, dst=y)


def find_hotspot(y: U8, scale: int = 1) -> tuple[int, int] | None:
    """The centre (x, y) of the hottest blurred region, or None for a uniform picture.
    `y` may be the luma scaled down by `scale` (the block means); the centre is in full-size
    pixels."""
    small = y
    while small.shape[1] >= 2 * DETECT_WIDTH and small.shape[0] >= 2:
        # Halving by INTER_AREA has a fast path (0.015 ms at 640x512; a quarter in one
        # step took 0.16 ms).
        half = (small.shape[1] // 2, small.shape[0] // 2)
        small = cast(U8, cv2.resize(small, half, interpolation=cv2.INTER_AREA))
        scale *= 2
    blurred = cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)
    _, top, _, (x, at_y) = cv2.minMaxLoc(blurred)
    if top - cv2.mean(blurred)[0] < MIN_CONTRAST:
        return None
    return int((x + 0.5) * scale), int((at_y + 0.5) * scale)


def draw_marker(y: U8, u: U8, v: U8, spot: tuple[int, int], label: str) -> None:
    """A white ring with ticks (black edged, colourless: seen on every palette) around
    `spot`, and its label beside it."""
    height = y.shape[0]
    radius, width = max(8, height // 20), max(2, height // 240)
    cx, cy = spot
    tick = radius // 2
    for value, thickness in ((OUTLINE_Y, width + 2), (MARK_Y, width)):
        cv2.circle(y, spot, radius, value, thickness, cv2.LINE_AA)
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            start = (cx + dx * radius, cy + dy * radius)
            end = (cx + dx * (radius + tick), cy + dy * (radius + tick))
            cv2.line(y, start, end, value, thickness)
    for plane in (u, v):
        cv2.circle(plane, (cx // 2, cy // 2), radius // 2, NEUTRAL, width // 2 + 2)
    mask = text_mask(label, max(12, height // 30))
    gap = radius + tick + width + 4
    x = cx + gap if cx + gap + mask.shape[1] <= y.shape[1] else cx - gap - mask.shape[1]
    bx, by, bw, bh = blend_label(y, mask, x, cy - mask.shape[0] // 2)
    if bw and bh:
        u[by // 2 : (by + bh + 1) // 2, bx // 2 : (bx + bw + 1) // 2] = NEUTRAL
        v[by // 2 : (by + bh + 1) // 2, bx // 2 : (bx + bw + 1) // 2] = NEUTRAL


class ThermalProcessor:
    """Palette, isotherm and hotspot marker: on the shared path (rung None) or, for a stream
    whose rungs have palettes of their own, on rung `rung`'s scaled picture."""

    name = "thermal"

    def __init__(self, control: ThermalControl, rung: str | None = None) -> None:
        self.control, self.rung = control, rung
        self.frames = 0
        self.hotspots = 0  # frames with a hotspot marked

    def process(self, frame: av.VideoFrame, live: bool) -> None:
        if not live:
            return  # the slate stays as it is: "Signal verloren" must be readable
        settings = self.control.settings
        y, u, v = planes(frame)
        means = block_means(y, u)  # the chroma's luma, and a first halving for the search
        spot = find_hotspot(means, 2) if settings.hotspot else None  # on the camera's luma
        if spot is not None:
            spot = min(frame.width - 1, spot[0]), min(frame.height - 1, spot[1])
        paint(y, u, v, lut(self.control.palette_for(self.rung), settings.isotherm), means)
        self.frames += 1
        if spot is not None:
            self.hotspots += 1
            draw_marker(y, u, v, spot, self.control.label())


def install(config: StreamConfig, transcoder: Transcoder | None) -> ThermalControl | None:
    """A thermal stream's control, its processor on the shared path, or one per rung when
    some rung has a palette of its own; None for other streams."""
    if config.thermal is None or transcoder is None:
        return None
    control = ThermalControl(config.name, config.thermal, config.palettes)
    if control.shared:
        transcoder.processors.append(ThermalProcessor(control))
    else:
        for encoder in transcoder.encoders:
            encoder.processors.append(ThermalProcessor(control, encoder.rung.name))
    return control
