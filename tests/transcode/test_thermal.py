"""Thermal pictures, pixel by pixel: palette colours where the luma says, the isotherm above its
threshold only, the hotspot marker on a hot blob, nothing drawn on a uniform picture."""

from __future__ import annotations

import time

import av
import cv2
import numpy as np
import numpy.typing as npt
import pytest

from relay.config import RUNGS, parse_config
from relay.config.model import PALETTES, ThermalTable
from relay.errors import ConfigError
from relay.transcode.encoder import RungEncoder
from relay.transcode.palettes import rgb_table
from relay.transcode.processors.osd import planes
from relay.transcode.processors.thermal import (
    RELATIVE_LABEL,
    Reading,
    ThermalControl,
    ThermalProcessor,
    install,
)
from relay.transcode.transcoder import Transcoder

WIDTH, HEIGHT = 640, 512
TILE = 8  # luma tiles of 8x8: each covers whole 2x2 chroma blocks


def tiles() -> npt.NDArray[np.uint8]:
    """Luma tiles holding every value 0..255, row by row (80 tiles a row)."""
    per_row = WIDTH // TILE
    index = np.arange((HEIGHT // TILE) * per_row).reshape(HEIGHT // TILE, per_row) % 256
    return np.kron(index, np.ones((TILE, TILE), np.int64)).astype(np.uint8)


def grey_frame(luma: npt.NDArray[np.uint8]) -> av.VideoFrame:
    frame = av.VideoFrame(luma.shape[1], luma.shape[0], "yuv420p")
    y, u, v = planes(frame)
    y[:] = luma
    u[:] = 128
    v[:] = 128
    return frame


def processed(
    luma: npt.NDArray[np.uint8],
    palette: str = "ironbow",
    isotherm: int | None = None,
    hotspot: bool = False,
) -> av.VideoFrame:
    table = ThermalTable(palette=palette, isotherm=isotherm, hotspot=hotspot)
    frame = grey_frame(luma)
    ThermalProcessor(ThermalControl("t", table, {})).process(frame, True)
    return frame


def tile_centres(rgb: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The RGB at each tile's centre, and the tile's input luma."""
    centre = TILE // 2
    return rgb[centre::TILE, centre::TILE].reshape(-1, 3), tiles()[
        centre::TILE, centre::TILE
    ].ravel()


@pytest.mark.parametrize("palette", PALETTES)
def test_palette_colours_follow_the_luma(palette: str) -> None:
    rgb = processed(tiles(), palette).to_ndarray(format="rgb24")  # swscale: BT.601 limited
    got, luma = tile_centres(rgb)
    want = rgb_table(palette)[luma]
    error = np.abs(got.astype(int) - want.astype(int)).max(axis=1)
    assert np.percentile(error, 99) <= 8, (palette, int(error.max()))


def test_palette_anchors() -> None:
    """The tables mean what their names say: white-hot keeps the camera's luma, black-hot
    inverts it, ironbow runs from black through red to white."""
    luma = tiles()
    white = processed(luma, "white-hot")
    assert np.abs(planes(white)[0].astype(int) - np.clip(luma, 16, 235)).max() <= 1
    black = processed(luma, "black-hot")
    assert np.abs(planes(black)[0].astype(int) - (251 - np.clip(luma, 16, 235))).max() <= 1
    iron = rgb_table("ironbow")
    assert iron[16].tolist() == [0, 0, 0] and iron[235].tolist() == [255, 255, 255]
    red = iron[16 + round(0.55 * 219)]
    assert red[0] > 200 and red[1] < 80 and red[2] < 80


def test_isotherm_colours_everything_at_or_above_the_threshold_only() -> None:
    rgb = processed(tiles(), "ironbow", isotherm=180).to_ndarray(format="rgb24")
    got, luma = tile_centres(rgb)
    green = np.array([0, 255, 0])
    near_green = np.abs(got.astype(int) - green).max(axis=1) <= 12
    assert near_green[luma >= 180].all()
    assert not near_green[luma < 180].any()
    palette = rgb_table("ironbow")[luma[luma < 180]]
    assert np.abs(got[luma < 180].astype(int) - palette).max(axis=1).max() <= 12


def blob_picture(at: tuple[int, int], noise: int = 3) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(1)
    luma = rng.integers(90 - noise, 90 + noise + 1, (HEIGHT, WIDTH)).astype(np.uint8)
    hot = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.circle(hot, at, 14, 1.0, -1)
    hot = cv2.GaussianBlur(hot, (0, 0), 6)
    return np.clip(luma + hot / hot.max() * 130, 0, 255).astype(np.uint8)


def drawn(luma: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where the hotspot marker changed the picture (with it against without it)."""
    marked = planes(processed(luma, "white-hot", hotspot=True))[0]
    plain = planes(processed(luma, "white-hot", hotspot=False))[0]
    return np.asarray(marked != plain)


@pytest.mark.parametrize("at", [(450, 150), (100, 400), (620, 20)])
def test_marker_rings_the_hot_blob(at: tuple[int, int]) -> None:
    changed = drawn(blob_picture(at)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    rings = []
    for i in range(1, count):
        x, y, w, h = stats[i, :4]
        cx, cy = x + w // 2, y + h // 2
        if labels[cy, cx] != i and w > 10 and h > 10:  # hollow: the ring, not the label box
            rings.append((cx, cy))
    assert rings, "no marker drawn"
    cx, cy = rings[0]
    # A ring at the edge is cut off: its bounding box's centre moves; the blob's does not.
    if 20 < at[0] < WIDTH - 40 and 20 < at[1] < HEIGHT - 40:
        assert abs(cx - at[0]) <= 10 and abs(cy - at[1]) <= 10, (rings, at)
    assert len(rings) == 1


def test_nothing_drawn_on_a_uniform_picture() -> None:
    rng = np.random.default_rng(2)
    flat = rng.integers(97, 104, (HEIGHT, WIDTH)).astype(np.uint8)  # sensor noise only
    assert not drawn(flat).any()
    ramp = np.tile(np.linspace(90, 105, WIDTH).astype(np.uint8), (HEIGHT, 1))
    assert not drawn(ramp).any()


def test_label_is_relative_unless_a_fresh_reading_is_given() -> None:
    control = ThermalControl("t", ThermalTable(), {})
    assert control.label() == RELATIVE_LABEL == "heißester Bereich"
    control.set_temperature(63.4, "DJI")
    assert control.label() == "63 °C (DJI)"
    control._reading = Reading(63.4, "DJI", time.monotonic() - 6)  # older than STALE_S
    assert control.label() == RELATIVE_LABEL
    control.set_temperature(None)
    assert control.label() == RELATIVE_LABEL
    control.set_temperature(71.0, "dji")  # telemetry's source name, as the label shows it
    assert control.label() == "71 °C (DJI)"


def test_label_text_changes_the_picture() -> None:
    """The reading is what the label shows: another text, other pixels beside the ring."""
    luma = blob_picture((300, 260))
    frames = []
    for reading in (None, 63.0):
        control = ThermalControl("t", ThermalTable(palette="white-hot"), {})
        control.set_temperature(reading, "DJI")
        frame = grey_frame(luma)
        ThermalProcessor(control).process(frame, True)
        frames.append(planes(frame)[0].copy())
    assert (frames[0] != frames[1]).sum() > 100


def test_the_slate_is_not_coloured() -> None:
    frame = grey_frame(tiles())
    control = ThermalControl("t", ThermalTable(hotspot=True), {})
    ThermalProcessor(control).process(frame, False)
    assert (planes(frame)[0] == tiles()).all()


def stream(renditions: list[object]) -> tuple[Transcoder, ThermalControl | None]:
    config = parse_config(
        {
            "streams": [
                {
                    "name": "t",
                    "source": "sim://",
                    "renditions": renditions,
                    "thermal": {"palette": "ironbow"},
                }
            ]
        },
        "<test>",
    ).streams[0]
    encoders = [
        RungEncoder("t", RUNGS[name], 30, publish=print, want_keyframe=lambda: False)
        for name in config.renditions
    ]
    transcoder = Transcoder("t", encoders)
    return transcoder, install(config, transcoder)


def test_one_palette_for_all_is_coloured_once_on_the_shared_path() -> None:
    transcoder, control = stream(["720p", "360p"])
    assert control is not None and control.shared
    assert [p.name for p in transcoder.processors] == ["thermal"]
    assert all(not e.processors for e in transcoder.encoders)


def test_a_rung_with_its_own_palette_colours_every_rung_after_scaling() -> None:
    transcoder, control = stream(["720p", {"name": "360p", "palette": "white-hot"}])
    assert control is not None and not control.shared
    assert not transcoder.processors
    by_rung = {e.rung.name: e.processors for e in transcoder.encoders}
    assert [len(p) for p in by_rung.values()] == [1, 1]
    assert control.palette_for("360p") == "white-hot"
    assert control.palette_for("720p") == "ironbow"
    control.select("rainbow", None)  # the operator's choice: rungs without their own follow
    assert control.palette_for("720p") == "rainbow"
    assert control.palette_for("360p") == "white-hot"


@pytest.mark.parametrize(
    ("stream", "key", "why"),
    [
        ({"thermal": {"palette": "sepia"}}, "streams[0].thermal.palette", "'sepia' is not one of"),
        ({"thermal": {"isotherm": 300}}, "streams[0].thermal.isotherm", "at most 255"),
        ({"thermal": {"hue": 1}}, "streams[0].thermal.hue", "unknown key"),
        (
            {"renditions": ["720p", {"name": "360p", "palette": "lava"}]},
            "streams[0].renditions[1].palette",
            "only a thermal stream",
        ),
        (
            {"thermal": {}, "renditions": [{"name": "360p", "palette": "sepia"}]},
            "streams[0].renditions[0].palette",
            "'sepia' is not one of",
        ),
        ({"thermal": {}, "renditions": ["source"]}, "streams[0].thermal", "transcoded"),
    ],
)
def test_config_refuses_what_cannot_be_drawn(stream: dict[str, object], key: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"streams": [{"name": "t", "source": "sim://", **stream}]}, "<test>")
    assert key in str(caught.value) and why in str(caught.value), str(caught.value)
