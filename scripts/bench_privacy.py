#!/usr/bin/env python3
"""Face anonymisation, measured: prints ONE JSON object.

    .venv/bin/python scripts/bench_privacy.py [--frames 40] [--lfw 40] [--no-haar]

- recall per face width, per photo set: real photographs (scikit-image's data files, read as
  files) composited into the sim scene at 640x360, the public rung's size:
  `photos`: astronaut.png and camera.png, turned by -20, 0 and +20 degrees, with and without
  the lower fifth of the face hidden; `lfw`: faces of scikit-image's lfw_subset.npy (tight
  25x25 crops of Labeled Faces in the Wild; the width is the crop's), turned likewise.
  `steady`: a face on the picture for len(ORIENTATIONS) frames (every pass has looked at it);
  `one_frame`: the worst orientation of the small-face pass on a face's first frame alone;
- boxes on no face (`false_boxes`, per set, steady);
- the detector's ms per 640x360 frame (median, p95), both networks and CenterFace alone,
  and with every small-face orientation on every frame (`every_frame`: what finding a
  small tilted face on its first frame would cost);
- the Haar cross-check (scripts/haar_faces.py, OpenCV 4's bundled cascades, in a process of
  its own): faces Haar finds in the unmasked rung's decoded frames, and in the public rung's.

The README's and docs/privacy.md's recall tables come from it; note `uptime` with the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.sources.sim_scene import SimScene  # noqa: E402
from relay.transcode.processors.face_passes import ORIENTATIONS, FacePasses  # noqa: E402
from relay.transcode.processors.faces import Box  # noqa: E402

Gray = npt.NDArray[np.uint8]

# Each photograph's face box (found once by hand, 512x512 originals).
FACES = {"astronaut.png": (181, 58, 270, 178), "camera.png": (202, 118, 258, 197)}
SIZES = (16, 20, 24, 32, 48, 64, 100, 150, 200)
LFW_SIZES = (16, 20, 24, 32, 48)  # the crops are 25 px: larger would be only blur
ANGLES = (-20, 0, 20)
AT = (250, 80)  # where the portrait goes in the 640x360 scene
W, H = 640, 360


def photos() -> Path | None:
    """scikit-image's data folder, without importing scikit-image (its files are enough)."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    return folder if (folder / "astronaut.png").is_file() else None


def scene() -> Gray:
    luma: Gray = SimScene(W, H, 30).render(7).to_ndarray(format="gray")
    return luma


def place(patch: Gray, angle: float, at: tuple[int, int] = AT) -> tuple[Gray, tuple[int, int]]:
    """The sim scene's luma with `patch` turned by `angle` at `at`; the patch's centre."""
    ph, pw = patch.shape
    if angle:
        turn = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1)
        patch = cv2.warpAffine(patch, turn, (pw, ph), borderMode=cv2.BORDER_REFLECT)
    y = scene()
    px, py = at
    h, w = min(ph, H - py), min(pw, W - px)
    y[py : py + h, px : px + w] = patch[:h, :w]
    return y, (px + pw // 2, py + ph // 2)


def portrait(name: str, face_px: int, occluded: bool) -> Gray:
    """A square around the photograph's face, scaled so the face is `face_px` wide."""
    folder = photos()
    if folder is None:
        raise SystemExit("bench_privacy: scikit-image's photographs are not installed")
    x0, y0, x1, y1 = FACES[name]
    img = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
    cx, cy, half = (x0 + x1) // 2, (y0 + y1) // 2, x1 - x0
    crop = img[max(0, cy - half) : cy + half, max(0, cx - half) : cx + half]
    scale = face_px / (x1 - x0)
    patch: Gray = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if occluded:  # a helmet's visor or a hand: the lower fifth of the face hidden
        ph = patch.shape[0]
        face_h = int((y1 - y0) * scale)
        patch[ph // 2 + face_h // 2 - face_h // 5 : ph // 2 + face_h // 2, :] = 90
    return patch


def composite(
    name: str, face_px: int, angle: float, occluded: bool
) -> tuple[Gray, tuple[int, int]]:
    """The sim scene with a photograph whose face is `face_px` wide; the face's centre."""
    return place(portrait(name, face_px, occluded), angle)


def lfw_faces(count: int) -> list[Gray]:
    """The first `count` faces of lfw_subset.npy (its first 100 are faces, the rest not)."""
    folder = photos()
    if folder is None or not (folder / "lfw_subset.npy").is_file():
        return []
    faces = np.load(folder / "lfw_subset.npy")[: min(count, 100)]
    return [(f * 255).astype(np.uint8) for f in faces]


def found_at(boxes: list[Box], point: tuple[int, int]) -> bool:
    return any(x0 <= point[0] <= x1 and y0 <= point[1] <= y1 for x0, y0, x1, y1 in boxes)


def overlaps_face(box: Box, centre: tuple[int, int], width: int) -> bool:
    """Whether a box overlaps the face (a square of `width` around its centre): a box on a
    part of a large face is no false box, it masks the face too."""
    half = width / 2
    x0, y0, x1, y1 = box
    return (
        x0 < centre[0] + half
        and x1 > centre[0] - half
        and y0 < centre[1] + half
        and y1 > centre[1] - half
    )


def pictures(
    name: str, lfw: int, widths: tuple[int, ...] | None = None
) -> Iterator[tuple[int, Gray, tuple[int, int]]]:
    """(face width, picture, face centre) of one photo set, all its widths or `widths`."""
    if name == "photos":
        for photo in FACES:
            for size in widths or SIZES:
                for angle in ANGLES:
                    for occluded in (False, True):
                        yield size, *composite(photo, size, angle, occluded)
        return
    for face in lfw_faces(lfw):
        for size in widths or LFW_SIZES:
            interpolation = cv2.INTER_AREA if size < face.shape[1] else cv2.INTER_LINEAR
            patch: Gray = cv2.resize(face, (size, size), interpolation=interpolation)
            for angle in ANGLES:
                yield size, *place(patch, angle)


def recall(
    detector: FacePasses, name: str, lfw: int = 40, widths: tuple[int, ...] | None = None
) -> dict[str, object]:
    """Recall per width of one set, steady and on a face's first frame, and false boxes."""
    steady: dict[int, list[bool]] = {}
    one_frame: dict[int, list[bool]] = {}
    false_boxes = count = 0
    for size, y, centre in pictures(name, lfw, widths):
        # What detect() does over len(ORIENTATIONS) frames: CenterFace every frame, the
        # small-face pass in one orientation per frame in turn.
        whole = detector.whole.detect(y)
        small = [detector.small_pass(y, angle) for angle in detector.orientations]
        every = whole + [box for boxes in small for box in boxes]
        steady.setdefault(size, []).append(found_at(every, centre))
        worst = min((found_at(whole + boxes, centre) for boxes in small), default=False)
        one_frame.setdefault(size, []).append(worst or found_at(whole, centre))
        false_boxes += sum(1 for box in set(every) if not overlaps_face(box, centre, size))
        count += 1

    def table(hits: dict[int, list[bool]]) -> dict[str, float]:
        return {str(size): round(sum(h) / len(h), 3) for size, h in sorted(hits.items())}

    return {
        "pictures": count,
        "per_width": count // max(1, len(steady)),
        "steady": table(steady),
        "one_frame": table(one_frame),
        "false_boxes": false_boxes,
    }


def detect_ms(detector: FacePasses, frames: int) -> dict[str, float]:
    """The detector's time per 640x360 frame of the moving sim scene (after a warm-up)."""
    sim = SimScene(W, H, 30)
    lumas = [sim.render(i).to_ndarray(format="gray") for i in range(frames + 3)]
    spent = []
    for i, y in enumerate(lumas):
        t0 = time.perf_counter()
        detector.detect(y)
        if i >= 3:
            spent.append((time.perf_counter() - t0) * 1000)
    return {
        "median": round(float(np.median(spent)), 1),
        "p95": round(float(np.percentile(spent, 95)), 1),
    }


def rung_fps(seconds: float, **privacy: str) -> dict[str, object]:
    """The public 360p rung (faces = "pixelate", budget 150 ms, other keys as given) fed the
    1280x720 sim at 30 fps in real time through the real encoder (dropping when busy, as
    live): its fps out."""
    import queue

    from relay.media.access_unit import TIME_BASE
    from relay.transcode.encoder import RungEncoder
    from tests.transcode.test_privacy import with_privacy

    sim = SimScene(1280, 720, 30)
    frames = [sim.render(i) for i in range(30)]
    out: queue.Queue[object] = queue.Queue()
    encoder = RungEncoder(
        "bench",
        with_privacy("360p", faces="pixelate", **privacy),
        30,
        out.put,
        lambda: False,
    )
    encoder.start()
    try:
        warm_until = time.monotonic() + 3  # the model loads on the first frame
        i = 0
        while time.monotonic() < warm_until:
            i = feed(encoder, frames, i, TIME_BASE)
        stage = encoder.privacy
        assert stage is not None
        out0, closed0, frames0 = encoder.frames_out, stage.fail_closed_frames, stage.frames
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            i = feed(encoder, frames, i, TIME_BASE)
        spent = time.monotonic() - t0
        return {
            "seconds": round(spent, 1),
            "fps_in": 30,
            "fps_out": round((encoder.frames_out - out0) / spent, 1),
            "through_stage": stage.frames - frames0,
            "failed_closed": stage.fail_closed_frames - closed0,
            "detector_ms": stage.faces.detect_ms.summary(),
            "people_detector_ms": stage.people.detect_ms.summary(),
        }
    finally:
        encoder.close()


def feed(encoder: Any, frames: list[Any], i: int, time_base: Any) -> int:
    """Submits frame i at its time (30 fps); returns i + 1."""
    frame = frames[i % len(frames)]
    frame.pts, frame.time_base = i * 3000, time_base
    encoder.submit(frame, time.monotonic_ns())
    time.sleep(1 / 30)
    return i + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames timed per variant")
    parser.add_argument("--lfw", type=int, default=40, help="faces of lfw_subset (<= 100)")
    parser.add_argument("--no-haar", action="store_true", help="skip the Haar cross-check")
    parser.add_argument("--rung-s", type=float, default=15, help="seconds of the live rung")
    args = parser.parse_args()
    if photos() is None:
        print("bench_privacy: scikit-image's photographs are missing", file=sys.stderr)
        sys.exit(2)
    detector = FacePasses()
    report: dict[str, object] = {
        "size": f"{W}x{H}",
        "orientations": list(ORIENTATIONS),
        "sets": {name: recall(detector, name, args.lfw) for name in ("photos", "lfw")},
        "detect_ms": detect_ms(FacePasses(), args.frames),
        "detect_ms_centerface_only": detect_ms(FacePasses(orientations=()), args.frames),
        "rung_360p": rung_fps(args.rung_s),
        # Every orientation on every frame: first-frame recall would be the steady one.
        "detect_ms_every_frame": detect_ms(FacePasses(every_frame=True), args.frames),
    }
    if not args.no_haar:
        from scripts.haar_faces import cross_check

        report["haar"] = cross_check()
    with open("/proc/loadavg") as f:
        report["loadavg"] = f.read().split()[:3]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
