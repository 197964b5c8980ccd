"""A new picture goes out only once every pass of a detector has looked at it.

The face passes look at a picture in turns (one small-face orientation per frame), and the
people pass on every sixth frame only, holding boxes between. On a stream's first frames,
or after a cut (the pilot switches from the wide to the thermal camera, a zoom jumps, the
source restarts), that leaves frames that not every pass has seen, or that carry boxes of
the picture before: a small tilted face could be shown for a frame or two. So:

- SceneCuts tells a cut from motion: the mean absolute luma difference of 64x36 thumbnails
  of two frames in a row (a tenth of a millisecond).
- Covering wraps a detector with turns: on a cut it makes the detector forget its turns
  and held boxes, and until the detector has had `passes` frames of the new picture it
  raises NotCovered, so the privacy stage pixelates the frame whole (fail closed).
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from relay.transcode.processors.faces import Box
from relay.transcode.processors.privacy_masks import Plane

THUMB = (64, 36)
# Mean absolute difference (0..255) of two thumbnails in a row above which the picture is a
# new one. Measured on 640x360 pictures: the moving sim scene 16 at most between frames, a
# pan of 32 px a frame 20, a jump of the exposure by 30 levels 30; a cut between the sim and
# the pedestrian video of the people benchmark 53-57.
CUT_LEVEL = 35.0


class NotCovered(Exception):
    """Not every pass of the detector has looked at this picture yet: fail closed."""


class Turns(Protocol):
    """A detector that looks at a picture over several frames."""

    passes: int  # frames until every pass has looked at a picture

    def detect(self, y: Plane) -> list[Box]: ...

    def forget(self) -> None: ...


class SceneCuts:
    """Whether a frame starts a new picture (the first frame, a cut)."""

    def __init__(self, level: float = CUT_LEVEL) -> None:
        self.level = level
        self._last: npt.NDArray[np.int16] | None = None

    def is_cut(self, y: Plane) -> bool:
        thumb = np.asarray(cv2.resize(y, THUMB, interpolation=cv2.INTER_AREA), np.int16)
        last, self._last = self._last, thumb
        if last is None:
            return True
        return float(np.abs(thumb - last).mean()) > self.level


class Covering:
    """A detector with turns whose boxes count only once it has covered the picture."""

    def __init__(self, turns: Turns, cuts: SceneCuts | None = None) -> None:
        self.turns = turns
        self.cuts = cuts or SceneCuts()
        self.looked = 0  # frames of this picture the detector has had

    def detect(self, y: Plane) -> list[Box]:
        if self.cuts.is_cut(y):
            self.turns.forget()
            self.looked = 0
        boxes = self.turns.detect(y)
        self.looked += 1
        if self.looked < self.turns.passes:
            raise NotCovered(
                f"a new picture, {self.looked} of {self.turns.passes} passes looked at it"
            )
        return boxes
