"""The privacy stage's people detector: OpenCV's HOG with the Daimler pedestrian model.

A bystander seen from behind or from above shows no face, but can still be known by body,
clothes and gait. The stage blurs (or pixelates) the whole person with this detector:

- HOG (histograms of oriented gradients) with the linear SVM trained on the Daimler
  pedestrian set, both part of OpenCV itself (the contrib build, opencv-contrib-python-
  headless on PyPI): nothing is downloaded, nothing but OpenCV is needed. Its 48x96 window
  suits the small people of a drone's picture better than the 64x128 default model, which
  found 0.61 of the people of the test video against 0.97 (docs/privacy.md).
- The picture is enlarged by UPSCALE first: HOG finds a person only as tall as its window
  or taller, and the public rung's people are small.
- People walk slowly for a frame's time: the detector runs on every EVERY-th frame and its
  boxes stay masked for the frames between (PeoplePasses), which keeps its cost near a
  sixth of a pass per frame.

Measured by scripts/bench_people.py on a real pedestrian video (Debian's opencv-doc
vtest.avi), against the moving people that background subtraction finds in it.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from relay.transcode.processors.faces import Box, Detector, DetectorUnavailable
from relay.transcode.processors.privacy_masks import Plane

log = logging.getLogger(__name__)

WINDOW = (48, 96)  # the Daimler model's window, pixels
UPSCALE = 1.6  # found 0.98 of people 42-79 px tall at the rung's size (docs/privacy.md)
STRIDE = (8, 8)  # the window's step: 4 found a few more people for three times the cost
PYRAMID = 1.1  # scale step between pyramid levels: 1.05 cost twice as much for no recall
# A people pass on every sixth frame, its boxes held for the five between (340 ms at the
# public rung's 17.5 fps): held 400 ms, they still covered 0.96 of the people (fresh 0.98);
# on every third frame the rung ran at 10.4 fps, not 13.1 (docs/privacy.md).
EVERY = 6


class HogPeople:
    """People boxes on a luma plane, in its pixels."""

    def __init__(self, upscale: float = UPSCALE) -> None:
        if not hasattr(cv2, "HOGDescriptor"):
            raise DetectorUnavailable(
                "OpenCV has no HOG people detector here "
                "(OpenCV 5 keeps it in the contrib build: opencv-contrib-python-headless)"
            )
        self.upscale = upscale
        self._hog = cv2.HOGDescriptor(WINDOW, (16, 16), (8, 8), (8, 8), 9)
        weights = np.asarray(cv2.HOGDescriptor.getDaimlerPeopleDetector(), np.float32)
        self._hog.setSVMDetector(weights)

    def detect(self, y: Plane) -> list[Box]:
        picture = y
        if self.upscale != 1:
            # asarray: no copy (the resize is uint8 already), the type for the checker.
            picture = np.asarray(
                cv2.resize(y, None, fx=self.upscale, fy=self.upscale),
                np.uint8,
            )
        found, _weights = self._hog.detectMultiScale(
            picture, winStride=STRIDE, padding=(0, 0), scale=PYRAMID, groupThreshold=1
        )
        boxes: list[Box] = []
        for x, top, width, height in found:
            boxes.append(
                (
                    int(x / self.upscale),
                    int(top / self.upscale),
                    int((x + width) / self.upscale + 0.5),
                    int((top + height) / self.upscale + 0.5),
                )
            )
        return boxes


class PeoplePasses:
    """People boxes of every EVERY-th frame, held for the frames between."""

    def __init__(self, detector: Detector | None = None, every: int = EVERY) -> None:
        self.detector = detector or HogPeople()
        self.every = max(1, every)
        # After forget() the next frame gets a pass: one frame covers a new picture.
        self.passes = 1
        self._turn = 0
        self._held: list[Box] = []
        log.info("[privacy] people: HOG (Daimler), every %d frames", self.every)

    def forget(self) -> None:
        """Drops the held boxes: the next frame gets a pass (a new scene, a test picture)."""
        self._held = []
        self._turn = 0

    def detect(self, y: Plane) -> list[Box]:
        if self._turn % self.every == 0:
            self._held = self.detector.detect(y)
        self._turn += 1
        return self._held
