"""What the SPS says about reordering, on SPSs from libx264; and the B-frame detector that
believes the container's dts and the SPS before it believes pts that step back."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from relay.media.access_unit import AccessUnit
from relay.media.h264 import first_sps
from relay.media.sps import ReorderDetector, max_reorder


def x264_idr(profile: str, bframes: int, params: str = "") -> bytes:
    """The first IDR access unit (SPS and PPS in band) of a tiny libx264 stream."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 192, "yuv420p"
    enc.time_base = Fraction(1, 30)
    enc.max_b_frames = bframes
    enc.options = {"preset": "veryfast", "profile": profile, "x264-params": "keyint=30" + params}
    frame = av.VideoFrame.from_ndarray(np.zeros((288, 320), np.uint8), format="yuv420p")
    packets = []
    for i in range(8):
        frame.pts = i
        packets += enc.encode(frame)
    packets += enc.encode(None)
    return next(bytes(p) for p in packets if first_sps(bytes(p)))


@pytest.mark.parametrize(
    ("profile", "bframes", "params", "expected"),
    [
        ("baseline", 0, "", 0),
        ("main", 0, "", 0),
        ("high", 0, "", 0),
        ("high", 3, ":b-pyramid=none", 1),
        ("high", 2, "", 2),
    ],
)
def test_max_reorder_from_x264(profile: str, bframes: int, params: str, expected: int) -> None:
    sps = first_sps(x264_idr(profile, bframes, params))
    assert sps is not None and max_reorder(sps) == expected


def test_truncated_sps_says_nothing() -> None:
    sps = first_sps(x264_idr("high", 2))
    assert sps is not None and max_reorder(sps[:8]) is None


def test_jitter_is_not_bframes_but_dts_and_sps_decide() -> None:
    idr = x264_idr("baseline", 0)
    # No dts (RTP), Baseline SPS: a pts stepping back is jitter.
    d = ReorderDetector()
    units = [AccessUnit(idr, 0, True), AccessUnit(b"", 3000, False), AccessUnit(b"", 2000, False)]
    assert not any(d.reorders(u) for u in units)
    # dts equal to pts (FLV, composition time 0): jitter too, whatever the SPS.
    d = ReorderDetector()
    high = x264_idr("high", 2)
    units = [AccessUnit(high, 0, True, dts=0), AccessUnit(b"", 3000, False, dts=3000)]
    units.append(AccessUnit(b"", 2000, False, dts=2000))
    assert not any(d.reorders(u) for u in units)
    # A composition time: B-frames.
    assert d.reorders(AccessUnit(b"", 9000, False, dts=6000))
    # No dts, an SPS that allows reordering: pts order is all there is.
    d = ReorderDetector()
    assert not d.reorders(AccessUnit(high, 3000, True))
    assert d.reorders(AccessUnit(b"", 0, False))
