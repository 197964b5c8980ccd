"""Live annotations: what an operator may draw over a stream's picture, and its limits.

A mark lives in picture coordinates (0..1 from the top-left corner of the picture, not of
the screen), so every viewer draws it at the same spot whatever its window, rung or
letterboxing. Every input has a limit (relay/api/body.py answers a 400 naming the field):
the kinds, the colours (a fixed set the crews know), the label's length, the coordinates,
the lifetime. The count per stream is the board's (relay.annotations.board).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec

from relay.config.base import Invalid

KINDS = ("circle", "arrow", "pin")
# Fixed colours: readable over smoke, sky and vegetation, and named on the radio the same way.
COLOURS = {
    "red": "#ff2d2d",
    "yellow": "#ffd400",
    "blue": "#2d8cff",
    "green": "#2ee66b",
    "white": "#ffffff",
}
QUICK_LABELS = ("Brandherd", "Person", "Zufahrt")
MAX_LABEL = 40  # a pin is read at a glance: a few words
MIN_TTL_S, DEFAULT_TTL_S, MAX_TTL_S = 5, 60, 3600
MIN_RADIUS, MAX_RADIUS = 0.005, 0.5

Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]  # also refuses NaN and Infinity
Radius = Annotated[float, msgspec.Meta(ge=MIN_RADIUS, le=MAX_RADIUS)]


class AnnotationBody(msgspec.Struct):
    """POST /api/streams/{name}/annotations.

    circle: centre (x, y) and radius r (a fraction of the picture's width); arrow: from
    (x, y) to its tip (x2, y2); pin: the point (x, y) with its label. Any kind may carry a
    label. `public`: share-link viewers (the city's screen, a kiosk) see it too."""

    codes: ClassVar[dict[str, str]] = {
        "x": "bad_coordinates",
        "y": "bad_coordinates",
        "x2": "bad_coordinates",
        "y2": "bad_coordinates",
        "ttl_s": "bad_ttl",
    }
    kind: Literal["circle", "arrow", "pin"]
    x: Unit
    y: Unit
    colour: Literal["red", "yellow", "blue", "green", "white"] = "red"
    r: Radius = 0.05
    x2: Unit | None = None
    y2: Unit | None = None
    label: Annotated[str, msgspec.Meta(max_length=MAX_LABEL)] = ""
    ttl_s: Annotated[int, msgspec.Meta(ge=MIN_TTL_S, le=MAX_TTL_S)] = DEFAULT_TTL_S
    public: bool = False

    def __post_init__(self) -> None:
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in self.label):
            raise Invalid("label", "no control characters")
        self.label = self.label.strip()
        if self.kind == "arrow" and (self.x2 is None or self.y2 is None):
            raise Invalid("x2", "an arrow needs its tip (x2, y2)")
        if self.kind != "arrow":
            self.x2 = self.y2 = None
        if self.kind == "pin" and not self.label:
            raise Invalid("label", "a pin needs a label")


class Annotation(msgspec.Struct, frozen=True):
    """One mark on the board (and, as it was made, in a running incident's manifest)."""

    id: str
    stream: str
    kind: str
    x: float
    y: float
    colour: str
    author: str
    created: float  # Unix seconds
    expires: float
    r: float | None = None
    x2: float | None = None
    y2: float | None = None
    label: str = ""
    public: bool = False
    ground: tuple[float, float] | None = None  # (lat, lon) it points at, from telemetry

    def view(self, now: float) -> dict[str, Any]:
        """As viewers get it: with the seconds it has left (their clock may be off)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        out["expires_in_s"] = round(max(0.0, self.expires - now), 3)
        out["rgb"] = COLOURS[self.colour]
        return out
