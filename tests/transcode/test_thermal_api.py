"""A thermal stream in a real relay: an operator selects its palette (audited), others may not,
and a WebRTC viewer decodes pictures whose colours follow the palette, before and after."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from relay.transcode.palettes import rgb_table
from tests.conftest import TOKENS, RelayFactory, RunningRelay, wait_for

SMALL = "sim://?size=320x240&fps=10&gop=10"
VIEWER = "thermal-viewer-token-000000"
OPERATOR = "thermal-operator-token-0000"
AUTH = {
    "tokens": [
        *TOKENS,
        {"name": "tablet", "token": VIEWER, "role": "viewer", "streams": ["*"]},
        {"name": "elw-operator", "token": OPERATOR, "role": "operator", "streams": ["*"]},
    ]
}
THERMAL = {"name": "ir", "source": SMALL, "renditions": ["360p"], "thermal": {"palette": "ironbow"}}
PLAIN = {"name": "tv", "source": SMALL, "renditions": ["360p"]}


async def post(
    relay: RunningRelay, stream: str, body: Any, token: str = OPERATOR
) -> tuple[int, Any]:
    async with relay.http(token) as http:
        async with http.post(f"{relay.base_url}/api/streams/{stream}/thermal", json=body) as resp:
            return resp.status, await resp.json()


async def test_operator_selects_the_palette_audited(start_relay: RelayFactory) -> None:
    relay = await start_relay([THERMAL, PLAIN], auth=AUTH)
    assert (await relay.stream_status("ir"))["thermal"]["palette"] == "ironbow"
    status, body = await post(relay, "ir", {"palette": "rainbow", "isotherm": 200})
    assert status == 200, body
    assert (body["palette"], body["isotherm"]) == ("rainbow", 200)
    shown = (await relay.stream_status("ir"))["thermal"]
    assert (shown["palette"], shown["isotherm"]) == ("rainbow", 200)
    assert shown["hotspot_label"] == "heißester Bereich"
    status, body = await post(relay, "ir", {"isotherm": None})  # palette kept, isotherm off
    assert status == 200 and (body["palette"], body["isotherm"]) == ("rainbow", None)
    events = [e for e in relay.relay.audit.read() if e["event"] == "thermal_selected"]
    assert [(e["who"], e["stream"], e["palette"], e["isotherm"]) for e in events] == [
        ("elw-operator", "ir", "rainbow", 200),
        ("elw-operator", "ir", "rainbow", None),
    ]
    assert events[0]["before"] == {"palette": "ironbow", "isotherm": None}
    assert (await relay.stream_status("tv"))["thermal"] is None


async def test_refusals(start_relay: RelayFactory) -> None:
    relay = await start_relay([THERMAL, PLAIN], auth=AUTH)
    status, body = await post(relay, "ir", {"palette": "rainbow"}, token=VIEWER)
    assert status == 403, body
    status, body = await post(relay, "ir", {"palette": "sepia"})
    assert status == 400 and body["error"] == "bad_palette", body
    assert "ironbow" in body["reason"]
    status, body = await post(relay, "ir", {"isotherm": 256})
    assert status == 400 and body["error"] == "bad_isotherm", body
    status, body = await post(relay, "nope", {"palette": "rainbow"})
    assert status == 404 and body["error"] == "unknown_stream", body
    status, body = await post(relay, "tv", {"palette": "rainbow"})
    assert status == 409 and body["error"] == "not_thermal", body
    assert (await relay.stream_status("ir"))["thermal"]["palette"] == "ironbow"
    assert not [e for e in relay.relay.audit.read() if e["event"] == "thermal_selected"]


BANDS = 16  # vertical bands of grey, luma 16 + 14 k: the whole scale


def band_clip(path: Path, size: tuple[int, int] = (640, 512), fps: int = 15) -> Path:
    """A thermal camera's white-hot picture, as simple as it gets: grey bands."""
    width, height = size
    luma = (16 + 14 * (np.arange(width) * BANDS // width)).astype(np.uint8)
    picture = np.full((height * 3 // 2, width), 128, np.uint8)
    picture[:height] = luma
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for i in range(fps * 2):
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def band_error(frame: av.VideoFrame, palette: str) -> float:
    """The worst distance between a band's centre colour and the palette's colour for it."""
    rgb: npt.NDArray[np.uint8] = frame.to_ndarray(format="rgb24")
    width = rgb.shape[1]
    row = rgb[rgb.shape[0] // 3]  # above the OSD bar
    table = rgb_table(palette)
    errors = [
        np.abs(row[(2 * k + 1) * width // (2 * BANDS)].astype(int) - table[16 + 14 * k]).max()
        for k in range(BANDS)
    ]
    return float(max(errors))


async def test_webrtc_viewer_sees_the_palette_and_the_operators_change(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    clip = band_clip(tmp_path / "bands.mp4")
    thermal = {"palette": "ironbow", "hotspot": False}
    stream = {"name": "ir", "source": f"file:{clip}", "renditions": ["360p"], "thermal": thermal}
    relay = await start_relay([stream], auth=AUTH)
    viewer = relay.viewer("ir", rendition="360p")
    await viewer.start()
    try:
        await viewer.wait_frames(10, timeout=30)
        frame = viewer.received.last_frame
        assert frame is not None and frame.height == 360
        assert band_error(frame, "ironbow") <= 16, band_error(frame, "ironbow")
        assert band_error(frame, "black-hot") > 100  # colours, not the camera's grey
        status, body = await post(relay, "ir", {"palette": "black-hot"})
        assert status == 200, body

        def follows_black_hot() -> bool:
            last = viewer.received.last_frame
            return last is not None and band_error(last, "black-hot") <= 16

        await wait_for(follows_black_hot, 10, "frames in black-hot")
    finally:
        await viewer.close()


async def test_a_rung_with_its_own_palette_keeps_it(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """360p follows the stream's palette, 240p its own: coloured per rung after scaling."""
    clip = band_clip(tmp_path / "bands.mp4")
    renditions = ["360p", {"name": "240p", "palette": "black-hot"}]
    thermal = {"palette": "ironbow", "hotspot": False}
    stream = {"name": "ir", "source": f"file:{clip}", "renditions": renditions, "thermal": thermal}
    relay = await start_relay([stream], auth=AUTH)
    viewers = {rung: relay.viewer("ir", rendition=rung) for rung in ("360p", "240p")}
    try:
        for viewer in viewers.values():
            await viewer.start()
        for viewer in viewers.values():
            await viewer.wait_frames(10, timeout=30)
        frames = {rung: v.received.last_frame for rung, v in viewers.items()}
        assert frames["360p"] is not None and frames["240p"] is not None
        assert (frames["360p"].height, frames["240p"].height) == (360, 240)
        assert band_error(frames["360p"], "ironbow") <= 16
        assert band_error(frames["240p"], "black-hot") <= 16
    finally:
        for viewer in viewers.values():
            await viewer.close()


async def test_the_drones_own_temperature_labels_the_hotspot(start_relay: RelayFactory) -> None:
    """A thermal stream whose telemetry carries the camera's hottest reading (here pushed, as
    a ground station would): the hotspot's label says it, with its source; never a value
    read from the pixels."""
    relay = await start_relay([{**THERMAL, "telemetry": "push"}])
    assert (await relay.stream_status("ir"))["thermal"]["hotspot_label"] == "heißester Bereich"
    async with relay.http() as http:
        url = f"{relay.base_url}/api/streams/ir/telemetry"
        async with http.post(url, json={"temp_max_c": 63.4}) as resp:
            assert resp.status == 204, await resp.text()
    label = (await relay.stream_status("ir"))["thermal"]["hotspot_label"]
    assert label == "63 °C (Push)", label  # the source as the label names it
