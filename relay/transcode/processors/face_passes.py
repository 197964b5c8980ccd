"""The privacy stage's face detector: two networks, passes spread over frames.

- CenterFace (relay.transcode.processors.faces) looks at every frame upright: it finds
  faces of every size, but misses a quarter of the 24 px faces whose head outline is lost
  and many small faces tilted by 20 degrees (a head turned while walking, a drone banking).
- MTCNN (relay.transcode.processors.small_faces) looks for those, on one orientation per
  frame in turn: upright, then the picture turned by +20 and by -20 degrees (a face tilted
  by -20 is upright in the picture turned by +20).

A frame's boxes stay masked on the next len(ORIENTATIONS) - 1 frames, so once a face has been
on the picture for len(ORIENTATIONS) frames (0.1 s at 30 fps), every pass has looked at it.
A frame costs CenterFace and one MTCNN pass, 52 ms a 640x360 frame (CenterFace alone 29 ms),
not all four passes (measured in scripts/bench_privacy.py, docs/privacy.md).
"""

from __future__ import annotations

import logging
from collections import deque

from relay.transcode.processors.faces import Box, CenterFace, Detector, turned
from relay.transcode.processors.privacy_masks import Plane
from relay.transcode.processors.small_faces import MTCNN

log = logging.getLogger(__name__)

ORIENTATIONS = (0.0, 20.0, -20.0)  # degrees, counter-clockwise, one per frame in turn
# The small-face pass keeps boxes up to this width (its faces are up to 64 px, its boxes a
# little larger): above it CenterFace found every face of the test set, tilted or not, and
# the cascade's larger boxes were parts of faces found already (fewer false ones).
SMALL_MAX_PX = 80


class FacePasses:
    """Face boxes of a frame and of the frames just before it, in pixels of the plane."""

    def __init__(
        self,
        whole: Detector | None = None,
        small: Detector | None = None,
        orientations: tuple[float, ...] = ORIENTATIONS,
        every_frame: bool = False,
    ) -> None:
        self.whole = whole or CenterFace()
        self.small = small or MTCNN()
        self.orientations = orientations
        # Every orientation on every frame: a small tilted face would be found on its first
        # frame, but a 640x360 frame took 163 ms, not 60 (scripts/bench_privacy.py), over
        # the stage's default budget: only the benchmark uses it.
        self.every_frame = every_frame
        # Frames until every pass has looked at a picture (new_pictures.Covering).
        self.passes = 1 if every_frame or not orientations else len(orientations)
        self._turn = 0
        self._held: deque[list[Box]] = deque(maxlen=max(0, len(orientations) - 1))
        log.info(
            "[privacy] small faces: MTCNN, orientations %s, %s",
            orientations,
            "all on every frame" if every_frame else "one per frame",
        )

    def forget(self) -> None:
        """Drops the held boxes and starts the turns again (a new scene, a test picture)."""
        self._held.clear()
        self._turn = 0

    def detect(self, y: Plane) -> list[Box]:
        found = self.whole.detect(y)
        if self.every_frame:
            for angle in self.orientations:
                found += self.small_pass(y, angle)
        elif self.orientations:
            angle = self.orientations[self._turn % len(self.orientations)]
            self._turn += 1
            found += self.small_pass(y, angle)
        # A box held from the last frames may be this frame's too: once is enough.
        boxes = list(dict.fromkeys(found + [box for held in self._held for box in held]))
        if self._held.maxlen:
            self._held.append(found)
        return boxes

    def small_pass(self, y: Plane, angle: float) -> list[Box]:
        """The small-face detector's boxes on the picture turned by `angle`."""
        if not angle:
            return [box for box in self.small.detect(y) if box[2] - box[0] <= SMALL_MAX_PX]
        return turned(self.small.detect, y, angle, SMALL_MAX_PX)
