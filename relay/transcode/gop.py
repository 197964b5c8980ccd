"""What a cold start decodes: the source's access units since its last IDR.

While no rung runs, the transcoder does not decode (a 1080p High-profile picture costs
about as much to decode as the 360p rung costs to encode: docs/lazy-rungs.md). It only keeps
the units since the last IDR; when a rung is wanted again it decodes them as fast as it
can, skipping the pictures no other picture refers to, and hands on only the newest one.
"""

from __future__ import annotations

from relay.media.access_unit import AccessUnit

# A GOP longer than this (20 s at 30 fps, or a 12 Mbit/s source's 20 s) is not kept: a cold
# start then waits for the next IDR (a WHIP publisher is asked for one).
MAX_UNITS = 600
MAX_BYTES = 32 * 1024 * 1024


def is_reference(data: bytes) -> bool:
    """False for a picture whose slices say no other picture refers to it (nal_ref_idc 0):
    decoding it can be skipped without harm to the pictures after it. Reads only the NAL
    headers up to the first slice; no copy of the unit."""
    at = data.find(b"\x00\x00\x01")
    while at != -1 and at + 3 < len(data):
        header = data[at + 3]
        if 1 <= header & 0x1F <= 5:
            return header >> 5 != 0
        at = data.find(b"\x00\x00\x01", at + 3)
    return True  # no slice found: let the decoder judge it


class GopBuffer:
    """The units since the last IDR (nothing before the first one), bounded."""

    def __init__(self) -> None:
        self.units: list[AccessUnit] = []
        self.bytes = 0

    def add(self, unit: AccessUnit) -> None:
        if unit.keyframe:
            self.clear()
        elif not self.units:
            return  # nothing to start from before an IDR
        if len(self.units) >= MAX_UNITS or self.bytes + len(unit.data) > MAX_BYTES:
            self.clear()
            return
        self.units.append(unit)
        self.bytes += len(unit.data)

    def clear(self) -> None:
        self.units = []
        self.bytes = 0
