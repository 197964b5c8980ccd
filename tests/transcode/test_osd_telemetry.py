"""The OSD burns the stream's chosen telemetry fields into its rungs (config `osd_telemetry`):
the text on the pixels, amber when stale, marked when interpolated, nothing without telemetry;
and through the relay, a pushed altitude is legible in a WebRTC viewer's decoded frames."""

from __future__ import annotations

import time
from typing import Any

import av
import numpy as np
import pytest

from relay.config.load import parse_config
from relay.errors import ConfigError
from relay.telemetry.hub import TelemetryHub
from relay.telemetry.model import Telemetry
from relay.telemetry.osd_line import TelemetryLine, line_text
from relay.transcode.processors.osd import OsdProcessor, planes
from relay.transcode.text import text_mask
from tests.conftest import RelayFactory, wait_for
from tests.telemetry.test_push import AUTH, PUBLISHER, SMALL, VIEWER_P, push

FIELDS = ("alt_rel_m", "ground_speed_mps", "heading_deg", "lat", "lon")
SAMPLE = {"lat": 48.1372341, "lon": 11.5755312, "alt_rel_m": 80.5, "heading_deg": 93.2}


def gray(width: int = 640, height: int = 360) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane in planes(frame):
        plane[:] = 128
    return frame


def text_score(luma: np.ndarray, text: str, px: int) -> float:
    """How well `text`, drawn as the OSD draws it, matches the picture's bottom-left (the
    best vertical place): the correlation of the mask with the luma, -1..1."""
    mask = text_mask(text, px).astype(np.float32)
    h, w = mask.shape
    margin = px // 2
    best = -1.0
    for top in range(luma.shape[0] // 2, luma.shape[0] - h):
        region = luma[top : top + h, margin : margin + w].astype(np.float32)
        if region.shape != mask.shape or region.std() == 0:
            continue
        best = max(best, float(np.corrcoef(region.ravel(), mask.ravel())[0, 1]))
    return best


def test_the_line_says_the_chosen_fields_and_what_they_are() -> None:
    view = {**SAMPLE, "ground_speed_mps": 12.5, "battery_pct": 76, "stale": False, "age_s": 0}
    text = line_text(view, FIELDS)
    assert text == "80,5 m über Start · 45 km/h · Kurs 93° · 48,13723° N · 11,57553° E"
    assert line_text({**view, "interpolated": True}, ("alt_rel_m",)) == (
        "80,5 m über Start (interpoliert)"
    )
    assert line_text({**view, "estimated": True}, ("alt_rel_m",)).endswith("(geschätzt)")  # type: ignore[union-attr]
    assert line_text({**view, "stale": True, "age_s": 12.3}, ("heading_deg",)) == (
        "VERALTET (12 s) · Kurs 93°"
    )
    assert line_text(view, ("alt_msl_m",)) is None  # not said by the drone: nothing drawn


def test_the_osd_draws_the_line_amber_when_stale_and_nothing_without_telemetry() -> None:
    now = [2_000_000_000.0]
    hub = TelemetryHub("d", clock=lambda: now[0])
    osd = OsdProcessor("d")
    osd.telemetry = TelemetryLine(lambda: hub.track, ("alt_rel_m",), clock=lambda: now[0])
    plain, drawn = gray(), gray()
    OsdProcessor("d").process(plain, True)
    osd.process(drawn, True)  # no sample yet
    assert np.array_equal(planes(plain)[0], planes(drawn)[0])
    hub.publish(Telemetry(time=now[0], source="push", alt_rel_m=80.5))
    osd.telemetry._made = -1e9  # type: ignore[union-attr]  # the line is remade at once
    drawn = gray()
    osd.process(drawn, True)
    y, u, _ = planes(drawn)
    px = 360 // 30
    assert text_score(y, "80,5 m über Start", px) > 0.8
    assert text_score(planes(plain)[0], "80,5 m über Start", px) < 0.5
    assert (u[: 360 // 2 - 2 * px] == 128).all()  # not stale: no tint
    now[0] += 10  # no sample for 10 s
    osd.telemetry._made = -1e9  # type: ignore[union-attr]
    stale = gray()
    osd.process(stale, True)
    y, u, _ = planes(stale)
    assert text_score(y, "VERALTET (10 s) · 80,5 m über Start", px) > 0.8
    assert (u == 40).sum() > 100  # amber behind the line


def test_the_cost_of_the_line_per_frame() -> None:
    """Measured: the OSD with and without a telemetry line on a 720p frame (the line is made
    5 times a second, its mask cached): the extra per frame, printed for docs/telemetry.md."""
    hub = TelemetryHub("d")
    hub.publish(Telemetry(time=time.time(), source="push", **SAMPLE))  # type: ignore[arg-type]
    plain, with_line = OsdProcessor("d"), OsdProcessor("d")
    with_line.telemetry = TelemetryLine(lambda: hub.track, FIELDS)
    frame = gray(1280, 720)

    def median_us(osd: OsdProcessor) -> float:
        times = []
        for _ in range(300):
            t0 = time.perf_counter()
            osd.process(frame, True)
            times.append(time.perf_counter() - t0)
        return float(np.median(times)) * 1e6

    median_us(with_line), median_us(plain)  # warm the caches
    extra = median_us(with_line) - median_us(plain)
    print(f"osd telemetry line: {extra:.0f} us extra per 720p frame")
    assert extra < 2000


@pytest.mark.parametrize(
    ("fields", "telemetry", "key", "why"),
    [
        (["alt_rel_m", "altitude"], "push", "streams[0].osd_telemetry[1]", "'altitude' is not"),
        (["lat", "lat"], "push", "streams[0].osd_telemetry[1]", "named twice"),
        (["lat"], "", "streams[0].osd_telemetry", "needs a telemetry source"),
    ],
)
def test_bad_osd_telemetry_is_refused_naming_the_key(
    fields: list[str], telemetry: str, key: str, why: str
) -> None:
    stream: dict[str, Any] = {"name": "d", "source": SMALL, "osd_telemetry": fields}
    if telemetry:
        stream["telemetry"] = telemetry
    with pytest.raises(ConfigError) as caught:
        parse_config({"streams": [stream]}, "<test>")
    assert key in str(caught.value) and why in str(caught.value), str(caught.value)


async def test_a_pushed_altitude_is_legible_at_a_webrtc_viewer(start_relay: RelayFactory) -> None:
    streams = [
        {
            "name": "p",
            "source": "sim://?size=640x360&fps=15&gop=15",
            "renditions": ["360p"],
            "telemetry": "push",
            "osd_telemetry": ["alt_rel_m"],
        },
        {"name": "q", "source": SMALL, "renditions": ["360p"]},  # AUTH's other stream
    ]
    relay = await start_relay(streams, auth=AUTH)
    viewer = relay.viewer("p", rendition="360p", token=VIEWER_P)
    await viewer.start()
    try:
        await viewer.wait_frames(5, timeout=30)
        right, wrong = "80,5 m über Start", "31,7 m über Start"

        def score(text: str) -> float:
            frame = viewer.received.last_frame
            assert frame is not None
            return text_score(frame.to_ndarray(format="gray"), text, 12)

        before = score(right)
        assert (await push(relay, SAMPLE, PUBLISHER))[0] == 204
        await wait_for(lambda: score(right) > 0.6, 10, "the altitude in the picture")
        after, other = score(right), score(wrong)
        print(f"text match: before {before:.2f}, after {after:.2f}, another number {other:.2f}")
        assert before < 0.5 and after > other + 0.05, (before, after, other)
    finally:
        await viewer.close()
