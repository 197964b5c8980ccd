"""The privacy stage: static masks and face anonymisation on one rung's own planes.

It runs in the rung's encoder thread, after scaling and before the OSD, so other rungs do
not pay for it and the decoded picture is never written. It fails closed: when the face
detector is late (over budget_ms), busy with an earlier frame, unavailable or raises, or the
stage itself raises, the frame goes out pixelated whole in coarse blocks, never unmasked
(docs/privacy.md). The detector runs in a thread of its own (faces-RUNG-STREAM), one frame
at a time, so a slow detector costs the rung its budget per frame at most.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import av

from relay.config.privacy import PrivacyTable
from relay.metrics import Histogram
from relay.threads import name_native_thread
from relay.transcode.processors.face_passes import FacePasses
from relay.transcode.processors.faces import Box, Detector, DetectorUnavailable
from relay.transcode.processors.osd import planes
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

# Makes the detector, in the detector's thread (loading a model takes a while); tests
# replace it with a detector that raises or sleeps.
detector_factory: Callable[[], Detector] = FacePasses


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
        self.faces_found = 0
        self.state = "ok"  # of the last frame: "ok" or "fail_closed"
        self.reason = ""
        self.detect_ms = Histogram()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[list[Box]] | None = None
        self._detector: Detector | None = None
        self._unavailable: DetectorUnavailable | None = None

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
        found: list[Box] = []
        if self.config.detects:
            result = self._faces(y)
            if isinstance(result, str):
                return result
            found = result
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
        for box in found:
            self._anonymise(views, box)
        return ""

    def _anonymise(self, views: tuple[Plane, Plane, Plane], box: Box) -> None:
        x0, y0, x1, y1 = box
        dx, dy = int((x1 - x0) * GROW), int((y1 - y0) * GROW)
        x0, y0, x1, y1 = x0 - dx, y0 - dy, x1 + dx, y1 + dy
        op = pixelate_box if self.config.faces == "pixelate" else blur_box
        # A face must not stay readable: blocks at least a fifth of the face wide.
        size = max(self.config.strength, (x1 - x0) // 5)
        op(views[0], x0, y0, x1, y1, size)
        for chroma in views[1:]:
            op(chroma, x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2, max(2, size // 2))

    def _faces(self, y: Plane) -> list[Box] | str:
        """The faces on this frame within the budget, or why not."""
        if self._pending is not None and not self._pending.done():
            return "face detector busy (still on an earlier frame)"
        if self._executor is None:
            name = f"faces-{self.rung}-{self.stream}"
            # Named for `top -H` too: a busy detector shows as its rung's and stream's.
            self._executor = ThreadPoolExecutor(1, name, initializer=name_native_thread)
        # A copy: on a timeout the stage pixelates the plane while the detector reads.
        self._pending = self._executor.submit(self._detect, y.copy())
        budget = self.config.budget_ms
        try:
            found = self._pending.result(timeout=budget / 1000)
        except TimeoutError:
            return f"face detector late (over {budget:g} ms)"
        except DetectorUnavailable as exc:
            return f"face detector unavailable: {exc}"
        except Exception as exc:
            return f"face detector failed: {exc!r}"
        self.faces_found += len(found)
        return found

    def _detect(self, y: Plane) -> list[Box]:
        """In the detector's thread."""
        if self._unavailable is not None:
            raise self._unavailable
        if self._detector is None:
            try:
                self._detector = detector_factory()
            except DetectorUnavailable as exc:
                self._unavailable = exc
                raise
        t0 = time.perf_counter()
        found = self._detector.detect(y)
        self.detect_ms.observe((time.perf_counter() - t0) * 1000)
        return found

    def close(self) -> None:
        """Lets the detector's thread go; safe to call twice."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

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
            "faces_found": self.faces_found,
            "detect": self.detect_ms.summary(),
        }
