#!/usr/bin/env python3
"""People anonymisation, measured on a real pedestrian video: prints ONE JSON object.

    .venv/bin/python scripts/bench_people.py [--every 10] [--rung-s 15]

The video: vtest.avi from Debian's opencv-doc (768x576, 10 fps, 795 frames, people walking
on a square seen from a first floor; scripts/test puts it in .venv/data). The truth: the
people moving in it, found by background subtraction (OpenCV's MOG2 on the whole video at
its own size, shadows left out), independent of the detector. From frame 220 on (the
background learnt), every `--every`-th frame:

- `recall`: moving blobs (at least 40 px tall in the original) whose centre a grown people
  box covers; `pixels`: the share of moving pixels inside the grown boxes; both with boxes
  of the same frame (`fresh`) and of the frame 400 ms earlier (`held`: the stage runs a
  people pass every sixth frame and holds its boxes, 340-400 ms at the public rung's
  15-17.5 fps);
- `false_boxes`: boxes with (almost) no moving pixel: a bystander standing still is one
  too, so it is an upper bound of the boxes on scenery;
- per picture height (360: the public rung; 240: people two thirds as tall, a higher
  drone): the heights of the people found by the subtraction, at that size;
- `detect_ms` per pass at 640x360 (median, p95), and the public 360p rung's fps out with
  faces and people on, and with faces only, in the same run (scripts/bench_privacy.py's
  live rung).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.transcode.processors.faces import Box  # noqa: E402
from relay.transcode.processors.people import HogPeople  # noqa: E402
from relay.transcode.processors.privacy import PEOPLE_GROW_X, PEOPLE_GROW_Y  # noqa: E402

Gray = npt.NDArray[np.uint8]

VIDEO_PLACES = (
    ROOT / ".venv" / "data" / "vtest.avi",
    Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
)
LEARNT = 220  # frames the background subtraction needs first
HELD_FRAMES = 4  # 400 ms at the video's 10 fps
MIN_PERSON_PX = 40  # a moving blob shorter than this in the original is a bag, a hand
FALSE_BOX_PX = 50  # moving pixels in a box below which it is a box on scenery


def people_video() -> Path | None:
    return next((path for path in VIDEO_PLACES if path.is_file()), None)


def read_video(path: Path) -> tuple[list[Gray], list[Gray]]:
    """Every frame's luma and its moving pixels (0/1), at the video's size."""
    capture = cv2.VideoCapture(str(path))
    subtractor = cv2.createBackgroundSubtractorMOG2(history=200, detectShadows=True)
    opening = np.ones((3, 3), np.uint8)
    lumas: list[Gray] = []
    moving: list[Gray] = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        mask = subtractor.apply(bgr)
        lumas.append(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), np.uint8))
        # 255 is foreground, 127 shadow: shadows are no person.
        fg = np.asarray(mask == 255, np.uint8)
        moving.append(np.asarray(cv2.morphologyEx(fg, cv2.MORPH_OPEN, opening), np.uint8))
    capture.release()
    return lumas, moving


def people_blobs(moving: Gray) -> list[tuple[int, int, int, int]]:
    """Moving blobs (x, y, w, h) as tall as a person; a person's split parts joined."""
    joined = cv2.dilate(moving, np.ones((5, 5), np.uint8))
    count, _labels, stats, _centres = cv2.connectedComponentsWithStats(joined)
    return [
        (int(x), int(y), int(w), int(h))
        for x, y, w, h, area in stats[1:count]
        if h >= MIN_PERSON_PX and area > 300
    ]


def covered(boxes: list[Box], scale: float, shape: tuple[int, ...]) -> Gray:
    """The grown boxes (the stage's growth), found at `scale`, as a 0/1 mask at full size."""
    mask = np.zeros(shape, np.uint8)
    for x0, y0, x1, y1 in boxes:
        dx, dy = (x1 - x0) * PEOPLE_GROW_X, (y1 - y0) * PEOPLE_GROW_Y
        a, b = int(max(0, (x0 - dx) / scale)), int(max(0, (y0 - dy) / scale))
        mask[b : int((y1 + dy) / scale) + 1, a : int((x1 + dx) / scale) + 1] = 1
    return mask


def measure(
    detector: HogPeople, lumas: list[Gray], moving: list[Gray], height: int, every: int
) -> dict[str, object]:
    """Recall and moving pixels covered, fresh and held, at a picture `height` px high."""
    scale = height / lumas[0].shape[0]
    hits = {"fresh": 0, "held": 0}
    pixels: dict[str, list[float]] = {"fresh": [], "held": []}
    blobs_total = false_boxes = boxes_total = 0
    heights: list[int] = []
    boxes_of: dict[int, list[Box]] = {}

    def boxes_at(i: int) -> list[Box]:
        if i not in boxes_of:
            small = cv2.resize(lumas[i], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            boxes_of[i] = detector.detect(np.asarray(small, np.uint8))
        return boxes_of[i]

    for i in range(LEARNT + HELD_FRAMES, len(lumas), every):
        fg = moving[i]
        fresh = boxes_at(i)
        boxes_total += len(fresh)
        for x0, y0, x1, y1 in fresh:
            a, b = int(x0 / scale), int(y0 / scale)
            if int(fg[b : int(y1 / scale), a : int(x1 / scale)].sum()) < FALSE_BOX_PX:
                false_boxes += 1
        blobs = people_blobs(fg)
        blobs_total += len(blobs)
        heights += [round(h * scale) for _x, _y, _w, h in blobs]
        for kind, boxes in (("fresh", fresh), ("held", boxes_at(i - HELD_FRAMES))):
            mask = covered(boxes, scale, fg.shape)
            hits[kind] += sum(bool(mask[y + h // 2, x + w // 2]) for x, y, w, h in blobs)
            pixels[kind].append(float((fg & mask).sum()) / max(1, int(fg.sum())))
    return {
        "picture_height": height,
        "frames": len(range(LEARNT + HELD_FRAMES, len(lumas), every)),
        "people": blobs_total,
        "person_px": {
            "median": int(np.median(heights)),
            "p10": int(np.percentile(heights, 10)),
            "p90": int(np.percentile(heights, 90)),
        },
        "recall": {kind: round(hits[kind] / max(1, blobs_total), 3) for kind in hits},
        "pixels": {kind: round(float(np.mean(pixels[kind])), 3) for kind in pixels},
        "boxes": boxes_total,
        "false_boxes": false_boxes,
    }


def detect_ms(detector: HogPeople, lumas: list[Gray], passes: int = 20) -> dict[str, float]:
    """One pass on a 640x360 picture of the video (the public rung's size), after a warm-up."""
    spent = []
    for i in range(passes + 2):
        picture = np.asarray(cv2.resize(lumas[LEARNT + i * 10], (640, 360)), np.uint8)
        t0 = time.perf_counter()
        detector.detect(picture)
        if i >= 2:
            spent.append((time.perf_counter() - t0) * 1000)
    return {
        "median": round(float(np.median(spent)), 1),
        "p95": round(float(np.percentile(spent, 95)), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=10, help="measure every N-th frame")
    parser.add_argument("--rung-s", type=float, default=15, help="seconds of the live rung")
    args = parser.parse_args()
    if args.every < 1:
        print("bench_people: --every must be >= 1", file=sys.stderr)
        sys.exit(2)
    video = people_video()
    if video is None:
        print("bench_people: vtest.avi is missing (scripts/test fetches it)", file=sys.stderr)
        sys.exit(2)
    lumas, moving = read_video(video)
    detector = HogPeople()
    report: dict[str, object] = {
        "video": f"{video.name} {lumas[0].shape[1]}x{lumas[0].shape[0]}, {len(lumas)} frames",
        "sizes": [measure(detector, lumas, moving, h, args.every) for h in (360, 240)],
        "detect_ms_640x360": detect_ms(detector, lumas),
    }
    if args.rung_s > 0:
        from scripts.bench_privacy import rung_fps

        report["rung_360p_faces_and_people"] = rung_fps(args.rung_s, people="pixelate")
        report["rung_360p_faces_only"] = rung_fps(args.rung_s)
    with open("/proc/loadavg") as f:
        report["loadavg"] = f.read().split()[:3]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
