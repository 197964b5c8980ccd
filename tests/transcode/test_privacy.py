"""Static privacy masks on a rung's own planes: inside the polygon masked, outside untouched,
and the other rungs (and the decoded picture) never touched."""

from __future__ import annotations

import queue
import time

import av
import cv2
import numpy as np
import pytest

from relay.config import RUNGS, Rung, parse_config
from relay.config.privacy import PrivacyTable
from relay.errors import ConfigError
from relay.media.access_unit import TIME_BASE
from relay.media.packet import EncodedPacket
from relay.sources.sim_scene import SimScene
from relay.transcode.encoder import RungEncoder
from relay.transcode.processors.osd import planes, private_copy
from relay.transcode.processors.privacy import PrivacyStage
from relay.transcode.processors.privacy_masks import polygon_masks

TRIANGLE = ((0.1, 0.1), (0.4, 0.1), (0.4, 0.5))


def scene_frames(count: int, size: tuple[int, int] = (1280, 720)) -> list[av.VideoFrame]:
    scene = SimScene(size[0], size[1], 30)
    frames = []
    for i in range(count):
        frame = scene.render(i + 5)
        frame.pts, frame.time_base = i * 3000, TIME_BASE
        frames.append(frame)
    return frames


def encode_rung(
    rung: Rung, frames: list[av.VideoFrame], used: list[RungEncoder] | None = None
) -> list[av.VideoFrame]:
    """The rung's encoder on `frames` (none dropped; appended to `used`), its packets
    decoded again."""
    out: queue.Queue[EncodedPacket] = queue.Queue()
    encoder = RungEncoder("test", rung, 30, out.put, lambda: False, lossless=True)
    if used is not None:
        used.append(encoder)
    encoder.start()
    try:
        for frame in frames:
            encoder.submit(frame, time.monotonic_ns())
        deadline = time.monotonic() + 20
        while encoder.frames_out < len(frames) - 2:
            assert time.monotonic() < deadline, encoder.frames_out
            time.sleep(0.02)
    finally:
        encoder.close()
    decoder = av.CodecContext.create("h264", "r")
    return [f for p in list(out.queue) for f in decoder.decode(p.packet)]


def with_privacy(name: str, **privacy: object) -> Rung:
    base = RUNGS[name]
    return Rung(base.name, base.height, base.bitrate, base.fps, PrivacyTable(**privacy))  # type: ignore[arg-type]


def inside_outside(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The triangle's pixels (shrunk by 6 px: codec blur at the edge) and those well outside."""
    masks = polygon_masks([TRIANGLE], width, height)
    assert masks.luma is not None
    full = np.zeros((height, width), np.uint8)
    box = masks.luma
    full[box.y0 : box.y1, box.x0 : box.x1] = box.mask

    kernel = np.ones((13, 13), np.uint8)
    inside = cv2.erode(full, kernel).astype(bool)
    outside = ~cv2.dilate(full, kernel).astype(bool)
    return inside, outside


def test_solid_mask_covers_the_polygon_and_nothing_else() -> None:
    frame = scene_frames(1, (640, 360))[0]
    original = [p.copy() for p in planes(frame)]
    stage = PrivacyStage("t", "360p", PrivacyTable(masks=(TRIANGLE,)))
    masked = private_copy(frame)
    stage.process(masked, True)
    y, u, v = planes(masked)
    masks = polygon_masks([TRIANGLE], 640, 360)
    assert masks.luma is not None and masks.chroma is not None
    inside = np.zeros((360, 640), bool)
    inside[masks.luma.y0 : masks.luma.y1, masks.luma.x0 : masks.luma.x1] = masks.luma.mask
    assert inside.sum() > 0.05 * inside.size  # the triangle is about 6 % of the picture
    assert (y[inside] == 16).all(), "luma inside the polygon is black"
    assert (y[~inside] == original[0][~inside]).all(), "luma outside is untouched"
    c_inside = np.zeros((180, 320), bool)
    box = masks.chroma
    c_inside[box.y0 : box.y1, box.x0 : box.x1] = box.mask
    for plane, before in ((u, original[1]), (v, original[2])):
        assert (plane[c_inside] == 128).all() and (plane[~c_inside] == before[~c_inside]).all()
    # Corners of the polygon in picture coordinates: (0.1, 0.1) is in, (0.1, 0.5) is not.
    assert inside[40, 70] and not inside[170, 70]
    assert stage.status()["state"] == "ok" and stage.fail_closed_frames == 0
    # The frame it was handed a copy of is untouched (the rung draws on its own planes).
    assert all((a == b).all() for a, b in zip(planes(frame), original, strict=True))


def test_pixelated_mask_is_blocks_inside_and_untouched_outside() -> None:
    frame = private_copy(scene_frames(1, (640, 360))[0])
    before = planes(frame)[0].copy()
    PrivacyStage(
        "t", "360p", PrivacyTable(masks=(TRIANGLE,), fill="pixelate", strength=16)
    ).process(frame, True)
    y = planes(frame)[0]
    inside, outside = inside_outside(640, 360)
    assert (y[outside] == before[outside]).all()
    assert (y[inside] != before[inside]).mean() > 0.5, "the picture inside is replaced"
    # Blocks of 16 px from the polygon's box: a block fully inside is one value.
    masks = polygon_masks([TRIANGLE], 640, 360)
    assert masks.luma is not None
    x0, y0 = masks.luma.x0, masks.luma.y0
    block = y[y0 + 32 : y0 + 48, x0 + 160 : x0 + 176]
    assert inside[y0 + 32 : y0 + 48, x0 + 160 : x0 + 176].all() and block.std() == 0


def test_mask_on_one_rung_through_its_encoder_other_rung_untouched() -> None:
    frames = scene_frames(20)
    before = frames[0].to_ndarray(format="gray")
    public = encode_rung(with_privacy("360p", masks=(TRIANGLE,)), frames)
    plain = encode_rung(RUNGS["360p"], frames)
    assert len(public) >= 15 and {(f.width, f.height) for f in public} == {(640, 360)}
    inside, outside = inside_outside(640, 360)
    for masked, clear in zip(public[5:15], plain[5:15], strict=True):
        y, y_clear = masked.to_ndarray(format="gray"), clear.to_ndarray(format="gray")
        assert y[inside].mean() < 25 and y[inside].std() < 4, "black inside the polygon"
        assert y_clear[inside].std() > 10, "the scene has texture there"
        # Outside: the same picture as the rung without masks (both through x264).
        diff = np.abs(y[outside].astype(int) - y_clear[outside].astype(int))
        assert np.median(diff) <= 3, np.median(diff)
    # The source frames themselves were never written.
    assert (frames[0].to_ndarray(format="gray") == before).all()


BASE = {"name": "a", "source": "sim://"}


@pytest.mark.parametrize(
    ("privacy", "key", "words"),
    [
        ({"masks": [[[0.1, 0.1], [1.4, 0.1], [0.4, 0.5]]]}, "masks[0][1]", "outside the picture"),
        ({"masks": [[[0.1, 0.1], [0.4, 0.5]]]}, "masks[0]", "3 to 64 points"),
        ({"masks": [TRIANGLE], "fill": "blurry"}, "fill", "solid, pixelate"),
        ({"faces": "yes"}, "faces", "off, pixelate, blur"),
        ({}, "masks", "privacy needs masks"),
        ({"masks": [TRIANGLE], "strength": 1}, "strength", "at least 4"),
        ({"masks": [TRIANGLE], "colour": 1}, "colour", "unknown key"),
    ],
)
def test_privacy_config_is_checked(privacy: dict[str, object], key: str, words: str) -> None:
    stream = {**BASE, "renditions": [{"name": "360p", "privacy": privacy}]}
    with pytest.raises(ConfigError) as caught:
        parse_config({"streams": [stream]}, "x.toml")
    assert f"streams[0].renditions[0].privacy.{key}: " in str(caught.value)
    assert words in str(caught.value)


def test_privacy_config_reaches_the_rung() -> None:
    stream = {**BASE, "renditions": ["720p", {"name": "360p", "privacy": {"masks": [TRIANGLE]}}]}
    config = parse_config({"streams": [stream]}, "x.toml").streams[0]
    assert config.rung("720p").privacy is None
    rung = config.rung("360p")
    assert rung.privacy is not None and rung.privacy.masks == (TRIANGLE,)
    assert rung.bitrate == RUNGS["360p"].bitrate  # no bitrate given: the built-in one
