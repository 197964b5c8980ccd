"""Where on the ground a mark points: the hook for the camera footprint's projection.

The projection itself (camera pose + field of view -> a point on flat ground) is
relay.telemetry.footprint.ground_point, the same maths as the map's web/geo.js; the board
only asks it, through this hook, which relay.api.factory wires (a board made without it gives
no mark a ground position). A sample older than the telemetry's stale limit is not used: a
mark must not point where the drone was a minute ago."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from relay.telemetry.model import STALE_S, Telemetry

if TYPE_CHECKING:
    from relay.annotations.model import AnnotationBody

log = logging.getLogger(__name__)

# (telemetry sample, x, y in picture coordinates 0..1) -> (lat, lon), or None when the point
# is not on the ground (above the horizon, no attitude in the sample, …).
GroundPosition = Callable[[Telemetry, float, float], "tuple[float, float] | None"]


def ground_of(
    project: GroundPosition | None,
    telemetry: Telemetry | None,
    now: float,
    body: AnnotationBody,
) -> tuple[float, float] | None:
    """The ground position of the mark's point (an arrow's tip: where it points), or None.
    A failing projection never stops the mark: it is logged and the mark has no ground."""
    if project is None or telemetry is None or now - telemetry.time > STALE_S:
        return None
    x, y = (body.x2, body.y2) if body.x2 is not None and body.y2 is not None else (body.x, body.y)
    try:
        found = project(telemetry, x, y)
    except Exception:  # the projection is another module's: its bug must not lose the mark
        log.exception("[annotations] the ground projection failed for (%.3f, %.3f)", x, y)
        return None
    if found is None:
        return None
    lat, lon = float(found[0]), float(found[1])
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        log.warning("[annotations] the ground projection gave (%r, %r): ignored", lat, lon)
        return None
    return (round(lat, 7), round(lon, 7))
