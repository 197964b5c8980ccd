"""A new picture (a stream's first frames, a cut) goes out pixelated whole until every pass
of the face detector has looked at it, and gets a people pass at once: scene cuts told
from motion on real pictures, the Covering wrapper's turns, and the stage with the real
face passes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from relay.config.privacy import PrivacyTable
from relay.sources.sim_scene import SimScene
from relay.transcode.processors.faces import Box
from relay.transcode.processors.new_pictures import Covering, NotCovered, SceneCuts
from relay.transcode.processors.osd import planes, private_copy
from relay.transcode.processors.people import PeoplePasses
from relay.transcode.processors.privacy import PrivacyStage
from relay.transcode.processors.privacy_masks import Plane
from scripts.bench_people import people_video, read_video
from tests.transcode.test_privacy import scene_frames
from tests.transcode.test_privacy_people import Counting


def sim_lumas(count: int) -> list[Plane]:
    sim = SimScene(640, 360, 30)
    return [sim.render(i).to_ndarray(format="gray") for i in range(count)]


def test_scene_cuts_are_told_from_motion() -> None:
    cuts = SceneCuts()
    sim = sim_lumas(60)
    assert cuts.is_cut(sim[0])  # the first frame is a new picture
    # The moving sim scene, frame after frame: no cut.
    assert not any(cuts.is_cut(y) for y in sim[1:])
    # A pan of 32 px between two frames: still the same picture.
    assert not cuts.is_cut(np.roll(sim[-1], 32, axis=1))
    path = people_video()
    if path is None:
        pytest.skip("vtest.avi (Debian's opencv-doc) is missing: scripts/test fetches it")
    street = np.asarray(cv2.resize(read_video(path)[0][300], (640, 360)), np.uint8)
    assert cuts.is_cut(street)  # another camera: a cut
    assert not cuts.is_cut(street.copy())
    assert cuts.is_cut(sim[5])  # and back


class Turning:
    """Three passes per picture, each call's boxes numbered."""

    passes = 3

    def __init__(self) -> None:
        self.calls = 0
        self.forgotten = 0

    def detect(self, y: Plane) -> list[Box]:
        self.calls += 1
        return [(self.calls, 0, self.calls + 10, 10)]

    def forget(self) -> None:
        self.forgotten += 1


def test_covering_fails_a_new_picture_until_every_pass_has_looked() -> None:
    turns = Turning()
    covering = Covering(turns)
    sim = sim_lumas(8)
    for y in sim[:2]:
        with pytest.raises(NotCovered):
            covering.detect(y)
    assert covering.detect(sim[2]) == [(3, 0, 13, 10)]
    assert covering.detect(sim[3]) == [(4, 0, 14, 10)]
    assert turns.forgotten == 1  # the first frame only
    # A cut: the turns start again, two more frames fail.
    black = np.zeros((360, 640), np.uint8)
    with pytest.raises(NotCovered):
        covering.detect(black)
    assert turns.forgotten == 2
    with pytest.raises(NotCovered):
        covering.detect(black)
    assert covering.detect(black) == [(7, 0, 17, 10)]


def test_a_cut_gets_a_people_pass_at_once_not_the_last_pictures_boxes() -> None:
    counting = Counting()
    covering = Covering(PeoplePasses(counting, every=6))
    sim = sim_lumas(3)
    assert covering.detect(sim[0]) == [(1, 0, 11, 20)]  # one pass covers a picture
    assert covering.detect(sim[1]) == [(1, 0, 11, 20)]  # held
    black = np.zeros((360, 640), np.uint8)
    assert covering.detect(black) == [(2, 0, 12, 20)] and counting.calls == 2


def test_the_stage_pixelates_a_new_picture_until_the_face_passes_have_looked() -> None:
    frames = scene_frames(4, (640, 360))
    stage = PrivacyStage("t", "360p", PrivacyTable(faces="pixelate", budget_ms=5000))
    try:
        states = []
        for frame in frames:
            out = private_copy(frame)
            stage.process(out, True)
            states.append((stage.state, stage.reason))
            unchanged = (planes(out)[0] == planes(frame)[0]).mean()
            # Pixelated whole: hardly a pixel kept; masked normally: most of the picture.
            assert unchanged < 0.2 if stage.state == "fail_closed" else unchanged > 0.8
        assert [state for state, _why in states] == ["fail_closed"] * 2 + ["ok"] * 2, states
        assert "new picture" in states[0][1]
    finally:
        stage.close()
