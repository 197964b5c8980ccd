#!/usr/bin/env python3
"""An independent face detector for checking the public rung: OpenCV 4's bundled Haar cascade.

OpenCV 5 (the relay's) has no CascadeClassifier; OpenCV 4's wheel has it and its cascades
(cv2.data.haarcascades). scripts/_setup.sh test installs that wheel into .venv/haar, and it
runs only in a process of its own with that folder first on PYTHONPATH: two cv2 in one
process clash. So this file is two things:

- run as a script (in that process): reads a stack of grey frames (.npy), prints one JSON
  list per frame of the face boxes [x0, y0, x1, y1] the cascade finds;
- imported (in the relay's process): haar_boxes() runs it, cross_check() encodes a face
  through an unmasked and a public (faces = "pixelate") 360p rung and counts what Haar finds.

Nothing at the top imports cv2 or the relay: each side imports what it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
HAAR_PATH = ROOT / ".venv" / "haar"  # pip install --target .venv/haar opencv-python-headless==4.*
CASCADE = "haarcascade_frontalface_default.xml"
SIZES = (48, 64, 100, 150)  # face widths the cascade finds at 640x360 (it needs ~24 px+)

Box = tuple[int, int, int, int]


class HaarUnavailable(Exception):
    """OpenCV 4 with its cascades is not installed in HAAR_PATH; the message says how."""


def haar_boxes(frames: list[npt.NDArray[np.uint8]]) -> list[list[Box]]:
    """The boxes the Haar cascade finds on each grey frame, found in a process of its own."""
    if not (HAAR_PATH / "cv2").is_dir():
        raise HaarUnavailable(
            f"no OpenCV 4 in {HAAR_PATH} (scripts/_setup.sh test installs it: pip install "
            f"--target .venv/haar opencv-python-headless==4.12.0.88)"
        )
    with tempfile.TemporaryDirectory(prefix="haar-") as folder:
        stack = Path(folder) / "frames.npy"
        # No frames: the process only proves that the cascade loads.
        np.save(stack, np.stack(frames) if frames else np.zeros((0, 8, 8), np.uint8))
        env = {**os.environ, "PYTHONPATH": str(HAAR_PATH)}
        done = subprocess.run(
            [sys.executable, __file__, str(stack)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise HaarUnavailable(f"the Haar process failed: {done.stderr.strip()[-500:]}")
    found: list[list[list[int]]] = json.loads(done.stdout)
    return [[(b[0], b[1], b[2], b[3]) for b in boxes] for boxes in found]


def face_frames(size: int, count: int = 10) -> list[Any]:
    """`count` 640x360 yuv420p frames of the sim scene with astronaut.png's face `size` wide."""
    import av
    import cv2

    from relay.media.access_unit import TIME_BASE
    from scripts.bench_privacy import composite

    frames = []
    for i in range(count):
        y, _ = composite("astronaut.png", size, 0, False)
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(y, cv2.COLOR_GRAY2BGR), format="bgr24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = i * 3000, TIME_BASE
        frames.append(frame)
    return frames


def face_centre(size: int) -> tuple[int, int]:
    from scripts.bench_privacy import composite

    return composite("astronaut.png", size, 0, False)[1]


def through_rungs(size: int) -> tuple[list[Any], list[Any]]:
    """Decoded grey frames of the unmasked and of the public rung (the real encoder path)."""
    from tests.transcode.test_privacy import encode_rung, with_privacy

    frames = face_frames(size)
    # The unmasked rung carries a mask too small to touch the face: the same stage and path.
    clear = encode_rung(with_privacy("360p", masks=(((0, 0), (0.01, 0), (0, 0.01)),)), frames)
    public = encode_rung(with_privacy("360p", faces="pixelate", budget_ms=1000), frames)
    # The first frames wait for the model to load; the last may be still in the encoder.
    return (
        [f.to_ndarray(format="gray") for f in clear[2:8]],
        [f.to_ndarray(format="gray") for f in public[2:8]],
    )


def on_face(boxes: list[Box], centre: tuple[int, int]) -> bool:
    return any(x0 <= centre[0] <= x1 and y0 <= centre[1] <= y1 for x0, y0, x1, y1 in boxes)


def cross_check(sizes: tuple[int, ...] = SIZES) -> dict[str, dict[str, int]]:
    """Per face width: frames, and those where Haar finds the face in the unmasked rung and
    in the public rung, and its boxes anywhere in the public rung."""
    report = {}
    for size in sizes:
        clear, public = through_rungs(size)
        boxes = haar_boxes(clear + public)
        centre = face_centre(size)
        report[str(size)] = {
            "frames": len(clear),
            "found_unmasked": sum(on_face(b, centre) for b in boxes[: len(clear)]),
            "found_public": sum(on_face(b, centre) for b in boxes[len(clear) :]),
            "boxes_public": sum(len(b) for b in boxes[len(clear) :]),
        }
    return report


def main() -> None:
    """In the Haar process: frames in, boxes out."""
    import cv2  # OpenCV 4, from HAAR_PATH

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if cascade.empty():
        raise SystemExit(f"haar_faces: {CASCADE} does not load from {cv2.data.haarcascades}")
    out = []
    for frame in np.load(sys.argv[1]):
        found = cascade.detectMultiScale(frame, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
        out.append([[int(x), int(y), int(x + w), int(y + h)] for x, y, w, h in found])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
