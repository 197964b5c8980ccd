"""AccessUnit: one encoded frame as it travels from a Source to the Stream."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

CLOCK_RATE = 90_000
TIME_BASE = Fraction(1, CLOCK_RATE)


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One H.264 picture in Annex B, pts on the stream's 90 kHz clock."""

    data: bytes
    pts: int
    keyframe: bool
    arrival_ns: int = field(default_factory=time.monotonic_ns)
    # The decode timestamp when the container carries one (FLV, MPEG-TS, MP4): a pts other
    # than it is what says the source sends B-frames (FLV's composition time), not jitter.
    dts: int | None = None


@dataclass(frozen=True, slots=True)
class Discontinuity:
    """Marks a restart of the source: decoders reset, timestamps start over."""

    reason: str
