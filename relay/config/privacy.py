"""A rung's privacy processing: static masks and face anonymisation (docs/privacy.md).

renditions = ["720p", {name = "360p", privacy = {masks = [[[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]]]}}]

Masks are polygons in picture coordinates (0..1, x to the right, y down), so one table
fits every rung size and every source resolution.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from relay.config.base import Invalid, Table

FILLS = ("solid", "pixelate")  # how a static mask covers its polygon
FACE_MODES = ("off", "pixelate", "blur")
MAX_MASKS = 32
MAX_POINTS = 64

Point = tuple[float, float]


class PrivacyTable(Table, frozen=True):
    """privacy = {masks = [...], fill = "solid", faces = "off", people = "off", strength = 16,
    budget_ms = 150}."""

    masks: tuple[tuple[Point, ...], ...] = ()
    fill: str = "solid"
    faces: str = "off"  # automatic anonymisation of faces: off, pixelate or blur
    # ... and of whole people (body, clothes: known without a face), same modes.
    people: str = "off"
    # Pixelation block (and blur kernel) in pixels of the rung's picture.
    strength: Annotated[int, msgspec.Meta(ge=4, le=64)] = 16
    # Time the face detector may take per frame; later, the frame is pixelated whole.
    # CenterFace and one MTCNN pass take 52 ms for a 640x360 picture on a quiet 2-core
    # machine, 100 ms and more on a loaded one (docs/privacy.md): the public rung then runs
    # at 10-18 fps.
    budget_ms: Annotated[float, msgspec.Meta(ge=1, le=1000)] = 150.0

    def __post_init__(self) -> None:
        if len(self.masks) > MAX_MASKS:
            raise Invalid("masks", f"at most {MAX_MASKS} polygons")
        for i, polygon in enumerate(self.masks):
            if not 3 <= len(polygon) <= MAX_POINTS:
                raise Invalid(f"masks[{i}]", f"a polygon needs 3 to {MAX_POINTS} points [x, y]")
            for j, (x, y) in enumerate(polygon):
                if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
                    raise Invalid(
                        f"masks[{i}][{j}]",
                        f"[{x}, {y}] is outside the picture: x and y are 0..1 "
                        "(0,0 top left, 1,1 bottom right)",
                    )
        if self.fill not in FILLS:
            raise Invalid("fill", f"{self.fill!r} is not one of {', '.join(FILLS)}")
        if self.faces not in FACE_MODES:
            raise Invalid("faces", f"{self.faces!r} is not one of {', '.join(FACE_MODES)}")
        if self.people not in FACE_MODES:
            raise Invalid("people", f"{self.people!r} is not one of {', '.join(FACE_MODES)}")
        if not self.masks and self.faces == "off" and self.people == "off":
            raise Invalid("masks", "privacy needs masks, or faces or people other than 'off'")

    @property
    def detects(self) -> bool:
        return self.faces != "off" or self.people != "off"
