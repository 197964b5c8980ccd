"""Frame marks survive scaling and encoding; damage is detected, not misread."""

from __future__ import annotations

import numpy as np

from relay.media.frame_marks import read_marks, write_marks
from relay.sources.sim import make_drone_encoder
from relay.sources.sim_scene import SimScene


def test_marks_round_trip_through_scale_and_encode() -> None:
    scene = SimScene(1280, 720, 30)
    encoder = make_drone_encoder(640, 360, 30, 30, bitrate=300_000)
    import av

    decoder = av.CodecContext.create("h264", "r")
    seen = []
    for i in range(10):
        frame = scene.render(1000 + i, unix_ms=1_790_000_000_000 + i)
        small = frame.reformat(width=640, height=360)
        small.pts = i
        for packet in encoder.encode(small):
            for decoded in decoder.decode(packet):
                seen.append(read_marks(decoded.to_ndarray(format="gray")))
    assert seen, "nothing decoded"
    assert all(m is not None for m in seen)
    assert [m[0] for m in seen if m] == list(range(1000, 1000 + len(seen)))
    assert seen[0] == (1000, 1_790_000_000_000)


def test_damaged_marks_read_as_none() -> None:
    y = np.full((360, 640), 128, np.uint8)
    write_marks(y, 42, 1_790_000_000_123)
    assert read_marks(y) == (42, 1_790_000_000_123)
    y[:8, 40:48] = 255 - y[:8, 40:48]  # flip one bit
    assert read_marks(y) is None
    assert read_marks(np.zeros((360, 640), np.uint8)) is None  # the slate has no marks
