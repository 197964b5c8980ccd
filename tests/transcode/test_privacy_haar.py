"""An independent check of the public rung: OpenCV 4's bundled Haar cascade (a detector that
shares nothing with CenterFace or MTCNN) finds the face in the unmasked rung's decoded frames and
none in the public rung's. The cascade runs in a process of its own (scripts/haar_faces.py):
OpenCV 4 and the relay's OpenCV 5 cannot share one."""

from __future__ import annotations

import pytest

from relay.transcode.processors import faces, small_faces
from scripts.haar_faces import (
    SIZES,
    HaarUnavailable,
    face_centre,
    haar_boxes,
    on_face,
    through_rungs,
)


@pytest.fixture(scope="module", autouse=True)
def installed() -> None:
    try:
        faces.model_path()
        small_faces.model_folder()
        haar_boxes([])
    except (faces.DetectorUnavailable, HaarUnavailable) as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("size", SIZES)
def test_haar_finds_the_face_unmasked_and_none_on_the_public_rung(size: int) -> None:
    clear, public = through_rungs(size)
    assert len(clear) == len(public) == 6
    boxes = haar_boxes(clear + public)
    centre = face_centre(size)
    unmasked = sum(on_face(b, centre) for b in boxes[: len(clear)])
    assert unmasked == len(clear), f"Haar finds the {size} px face in {unmasked} of 6 frames"
    # Not only not on the face: no face anywhere in the public rung's picture.
    assert boxes[len(clear) :] == [[]] * len(public), boxes[len(clear) :]
