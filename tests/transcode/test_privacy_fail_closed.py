"""The privacy stage fails closed: a face detector that raises, is late or is missing gives
the public rung a coarsely pixelated picture, never an unmasked one; counted and shown."""

from __future__ import annotations

import time

import numpy as np
import pytest

from relay.config.privacy import PrivacyTable
from relay.transcode.encoder import RungEncoder
from relay.transcode.processors import privacy
from relay.transcode.processors.faces import Box, no_detector
from relay.transcode.processors.osd import planes, private_copy
from relay.transcode.processors.privacy import PrivacyStage
from relay.transcode.processors.privacy_masks import Plane, coarse_block
from tests.conftest import RelayFactory
from tests.transcode.test_privacy import TRIANGLE, encode_rung, scene_frames, with_privacy


class Raising:
    def detect(self, y: Plane) -> list[Box]:
        raise RuntimeError("model crashed")


class Sleeping:
    def detect(self, y: Plane) -> list[Box]:
        time.sleep(0.3)
        return []


class OneFace:
    """Finds a "face" at a fixed place: what the stage does with a detector's boxes."""

    def detect(self, y: Plane) -> list[Box]:
        return [(300, 100, 380, 200)]


def block_stds(y: np.ndarray, block: int, rows: int) -> np.ndarray:
    """The standard deviation inside each block (its interior: codec ringing at the edges)."""
    m = block // 5
    return np.array(
        [
            y[r + m : r + block - m, c + m : c + block - m].std()
            for r in range(0, rows * block, block)
            for c in range(0, y.shape[1] - block + 1, block)
        ]
    )


def assert_coarse(frames: list, clear: list) -> None:  # type: ignore[type-arg]
    block = coarse_block(640)
    assert block == 40  # 16 blocks across a 640x360 picture
    for masked, unmasked in zip(frames, clear, strict=True):
        # Rows of blocks above the OSD bar (drawn after the privacy stage, and readable).
        stds = block_stds(masked.to_ndarray(format="gray"), block, rows=7)
        before = block_stds(unmasked.to_ndarray(format="gray"), block, rows=7)
        assert np.median(before) > 15, "the scene itself has texture"
        assert np.percentile(stds, 90) < 3, sorted(stds)[-10:]


@pytest.mark.parametrize(
    ("detector", "reason"),
    [(Raising, "face detector failed"), (Sleeping, "face detector"), (no_detector, "unavailable")],
)
def test_a_failing_detector_pixelates_the_whole_public_picture(
    monkeypatch: pytest.MonkeyPatch, detector: object, reason: str
) -> None:
    monkeypatch.setattr(privacy, "detector_factory", detector)
    frames = scene_frames(12)
    rung = with_privacy("360p", masks=(TRIANGLE,), faces="pixelate", budget_ms=20)
    used: list[RungEncoder] = []
    public = encode_rung(rung, frames, used)
    stage = used[0].privacy
    assert stage is not None and stage.state == "fail_closed" and reason in stage.reason
    assert stage.fail_closed_frames == stage.frames >= 10
    clear = encode_rung(with_privacy("360p", masks=(TRIANGLE,)), frames)
    assert len(public) >= 10
    assert_coarse(public[2:10], clear[2:10])


def test_stage_state_and_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = scene_frames(1, (640, 360))[0]
    config = PrivacyTable(faces="pixelate", budget_ms=20)
    monkeypatch.setattr(privacy, "detector_factory", Sleeping)
    stage = PrivacyStage("t", "360p", config)
    try:
        stage.process(private_copy(frame), True)
        assert stage.state == "fail_closed" and "late" in stage.reason
        stage.process(private_copy(frame), True)  # the detector is still on the first frame
        assert stage.state == "fail_closed" and "busy" in stage.reason
        assert stage.fail_closed_frames == 2 and stage.frames == 2
    finally:
        stage.close()
    monkeypatch.setattr(privacy, "detector_factory", OneFace)
    # A budget no loaded machine misses for a detector that answers at once.
    stage = PrivacyStage("t", "360p", PrivacyTable(faces="pixelate", budget_ms=1000))
    try:
        out = private_copy(frame)
        stage.process(out, True)
        assert stage.state == "ok" and stage.faces_found == 1
        y, before = planes(out)[0], planes(frame)[0]
        # The face box grown by a quarter each side is pixelated; far from it, untouched.
        assert (y[:60] == before[:60]).all() and (y[:, 450:] == before[:, 450:]).all()
        assert (y[110:190, 310:370] != before[110:190, 310:370]).mean() > 0.5
    finally:
        stage.close()


async def test_fail_closed_is_in_the_status_and_metrics(
    start_relay: RelayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "detector_factory", Raising)
    stream = {
        "name": "pub",
        "source": "sim://?size=640x360&fps=10&gop=10",
        "renditions": [{"name": "360p", "privacy": {"faces": "blur"}}],
        "public_rendition": "360p",
    }
    relay = await start_relay([stream])
    viewer = relay.viewer("pub")
    await viewer.start()
    try:
        await viewer.wait_frames(5)
        status = await relay.stream_status("pub")
        assert status["privacy"]["state"] == "fail_closed", status["privacy"]
        rung = status["privacy"]["rungs"]["360p"]
        assert rung["fail_closed_frames"] >= 5 and "model crashed" in rung["reason"]
        async with relay.http() as http:
            async with http.get(relay.base_url + "/metrics") as resp:
                text = await resp.text()
        line = next(
            x for x in text.splitlines() if x.startswith("relay_privacy_fail_closed_frames_total{")
        )
        assert float(line.split()[-1]) >= 5
        assert 'relay_privacy_fail_closed{rendition="360p",stream="pub"} 1.0' in text
    finally:
        await viewer.close()
