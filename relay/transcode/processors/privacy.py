"""The privacy stage: static masks, face and people anonymisation on one rung's own planes.

It runs in the rung's encoder thread, after scaling and before the OSD, so other rungs do
not pay for it and the decoded picture is never written. It fails closed: when a detector
(faces, people) is late (over budget_ms), busy with an earlier frame, unavailable or raises,
or the stage itself raises, the frame goes out pixelated whole in coarse blocks, never
unmasked (docs/privacy.md). Each detector runs in a thread of its own (faces-RUNG-STREAM,
people-RUNG-STREAM, relay.transcode.processors.detector_lane), one frame at a time, both
on the same frame side by side, so slow detectors cost the rung its budget per frame at most.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import av

from relay.config.privacy import PrivacyTable
from relay.transcode.processors.detector_lane import DetectorLane
from relay.transcode.processors.face_passes import FacePasses
from relay.transcode.processors.faces import Box, Detector
from relay.transcode.processors.new_pictures import Covering
from relay.transcode.processors.osd import planes
from relay.transcode.processors.people import PeoplePasses
from relay.transcode.processors.privacy_masks import (
    BLACK_Y,
    NEUTRAL_C,
    Plane,
    PlaneMasks,
    Polygon,
    blur_box,
    coarse,
    fill,
    pixelate_box,
    polygon_masks,
)

log = logging.getLogger(__name__)

GROW = 0.25  # a face box grows by this much on each side: hair, ears, a chin below
# A person's box grows sideways by this much on each side: HOG's box is tight around the
# body, and the boxes are held for the frames between people passes while people walk.
PEOPLE_GROW_X = 0.25
PEOPLE_GROW_Y = 0.05


def covered_faces() -> Detector:
    """The face passes; a new picture fails closed until every pass has looked at it."""
    return Covering(FacePasses())


def covered_people() -> Detector:
    """The people passes; a new picture gets a pass at once, not the last picture's boxes."""
    return Covering(PeoplePasses())


# Make the detectors, in their threads (loading a model takes a while); tests replace them
# with detectors that raise or sleep.
detector_factory: Callable[[], Detector] = covered_faces
people_factory: Callable[[], Detector] = covered_people


class PrivacyStage:
    """Masks one rung's pictures in place; counts what it did and whether it failed closed."""

    name = "privacy"

    def __init__(self, stream: str, rung: str, config: PrivacyTable) -> None:
        self.stream, self.rung, self.config = stream, rung, config
        self._masks: dict[tuple[int, int], PlaneMasks] = {}
        # Masks drawn by operators (relay.privacy_store): the loop hands a new tuple to
        # draw(), the encoder thread takes it at the start of its next frame. A reference
        # swap is atomic, so the hot path needs no lock.
        self._drawn: tuple[Polygon, ...] = ()
        self._next_drawn: tuple[Polygon, ...] = ()
        self.frames = 0
        self.fail_closed_frames = 0
        self.state = "ok"  # of the last frame: "ok" or "fail_closed"
        self.reason = ""
        # The module's factories are looked up when a lane makes its detector (tests patch them).
        self.faces = DetectorLane("face", f"faces-{rung}-{stream}", lambda: detector_factory())
        self.people = DetectorLane("people", f"people-{rung}-{stream}", lambda: people_factory())
        self._lanes = [
            (lane, mode)
            for lane, mode in ((self.faces, config.faces), (self.people, config.people))
            if mode != "off"
        ]

    @property
    def faces_found(self) -> int:
        return self.faces.found

    def draw(self, polygons: tuple[Polygon, ...]) -> None:
        """Operator-drawn polygons (0..1) from the next frame on, with the config's."""
        self._next_drawn = polygons

    def process(self, frame: av.VideoFrame, live: bool) -> None:
        drawn = self._next_drawn
        if drawn is not self._drawn:  # new drawn masks: rasterise again for every size
            self._drawn, self._masks = drawn, {}
        views = planes(frame)
        self.frames += 1
        try:
            why = self._apply(views, frame.width, frame.height)
        except Exception as exc:  # whatever broke, the picture must not go out unmasked
            log.exception("[stream %s] privacy %s: stage failed", self.stream, self.rung)
            why = f"privacy stage failed: {exc!r}"
        if why:
            self._fail_closed(views, why)
        elif self.state != "ok":
            log.info("[stream %s] privacy %s: masking again", self.stream, self.rung)
            self.state, self.reason = "ok", ""

    def _fail_closed(self, views: tuple[Plane, Plane, Plane], why: str) -> None:
        try:
            coarse(views)
        except Exception:  # not even that: a grey picture
            log.exception("[stream %s] privacy %s: pixelation failed", self.stream, self.rung)
            for view, value in zip(views, (BLACK_Y, NEUTRAL_C, NEUTRAL_C), strict=True):
                view[:] = value
        self.fail_closed_frames += 1
        if self.state != "fail_closed" or self.reason != why:
            log.warning(
                "[stream %s] privacy %s: fail closed (whole picture pixelated): %s",
                self.stream,
                self.rung,
                why,
            )
        self.state, self.reason = "fail_closed", why

    def _apply(self, views: tuple[Plane, Plane, Plane], width: int, height: int) -> str:
        """Masks the planes; returns why it cannot ("" when done)."""
        y, u, v = views
        found = self._detect(y)
        if isinstance(found, str):
            return found
        masks = self._masks.get((width, height))
        if masks is None:
            masks = self._masks[(width, height)] = polygon_masks(
                (*self.config.masks, *self._drawn), width, height
            )
        solid = self.config.fill == "solid"
        block = self.config.strength
        fill(y, masks.luma, BLACK_Y if solid else None, block)
        fill(u, masks.chroma, NEUTRAL_C if solid else None, block // 2)
        fill(v, masks.chroma, NEUTRAL_C if solid else None, block // 2)
        for lane, mode, boxes in found:
            grow = (GROW, GROW) if lane is self.faces else (PEOPLE_GROW_X, PEOPLE_GROW_Y)
            for box in boxes:
                self._anonymise(views, box, mode, grow)
        return ""

    def _detect(self, y: Plane) -> list[tuple[DetectorLane, str, list[Box]]] | str:
        """Each detector's boxes on this frame within the budget, or why not."""
        if not self._lanes:
            return []
        # One copy for all lanes (read only there): on a timeout the stage pixelates the
        # plane while a detector may still read.
        picture = y.copy()
        deadline = time.perf_counter() + self.config.budget_ms / 1000
        for lane, _mode in self._lanes:
            if why := lane.start(picture):
                return why
        found: list[tuple[DetectorLane, str, list[Box]]] = []
        for lane, mode in self._lanes:
            boxes = lane.boxes(deadline, self.config.budget_ms)
            if isinstance(boxes, str):
                return boxes
            found.append((lane, mode, boxes))
        return found

    def _anonymise(
        self, views: tuple[Plane, Plane, Plane], box: Box, mode: str, grow: tuple[float, float]
    ) -> None:
        x0, y0, x1, y1 = box
        dx, dy = int((x1 - x0) * grow[0]), int((y1 - y0) * grow[1])
        x0, y0, x1, y1 = x0 - dx, y0 - dy, x1 + dx, y1 + dy
        op = pixelate_box if mode == "pixelate" else blur_box
        # A face (a person) must not stay readable: blocks at least a fifth of it wide.
        size = max(self.config.strength, (x1 - x0) // 5)
        op(views[0], x0, y0, x1, y1, size)
        for chroma in views[1:]:
            op(chroma, x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2, max(2, size // 2))

    def close(self) -> None:
        """Lets the detectors' threads go; safe to call twice."""
        self.faces.close()
        self.people.close()

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "reason": self.reason,
            "frames": self.frames,
            "fail_closed_frames": self.fail_closed_frames,
            "masks": len(self.config.masks),
            "drawn_masks": len(self._next_drawn),
            "fill": self.config.fill,
            "faces": self.config.faces,
            "faces_found": self.faces.found,
            "detect": self.faces.detect_ms.summary(),
            "people": self.config.people,
            "people_found": self.people.found,
            "people_detect": self.people.detect_ms.summary(),
        }
