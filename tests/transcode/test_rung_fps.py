"""A rung that caps the frame rate (240p at 15 fps for the edge of a cell) encodes every
other frame of a 30 fps source, evenly spaced, with a 1 s GOP at its own rate."""

from __future__ import annotations

import random
from pathlib import Path

import av

from relay.config import RUNGS
from relay.transcode.encoder import RungEncoder
from tests.media_gen import access_units, make_clip
from tests.transcode.test_transcoder import decode, run_transcoder


def test_frames_are_kept_on_a_15_fps_schedule_despite_jitter() -> None:
    encoder = RungEncoder("t", RUNGS["240p"], 30, publish=print, want_keyframe=lambda: False)
    assert encoder.fps == 15
    rng = random.Random(17)
    frame = av.VideoFrame(16, 16, "yuv420p")
    kept = []
    for i in range(300):  # 10 s at 30 fps on the relay's clock, +-1 ms of jitter
        frame.pts = i * 3000 + rng.randint(-90, 90)
        before = encoder.skipped
        encoder.submit(frame, 0)  # not started: the queue only keeps the newest two
        if encoder.skipped == before:
            kept.append(frame.pts)
    assert encoder.skipped == 150 and len(kept) == 150
    steps = [b - a for a, b in zip(kept, kept[1:], strict=False)]
    assert all(5500 <= s <= 6500 for s in steps), steps


def test_240p_rung_encodes_half_the_frames_at_its_size_and_gop(tmp_path: Path) -> None:
    units = access_units(
        make_clip(tmp_path / "e.mp4", seconds=3.0, size=(1280, 720), high_bframes=False)
    )
    out = run_transcoder(units, ["360p", "240p"])
    low, full = out["240p"], out["360p"]
    # Both also get the slate (15 fps) once the clip has ended: compare with tolerance.
    assert len(low) <= 0.6 * len(full) + 3, (len(low), len(full))
    assert len(low) >= len(units) // 2 - 5, (len(low), len(units))
    assert {(f.width, f.height) for f in decode(low)} == {(426, 240)}
    keyframes = [i for i, p in enumerate(low) if p.keyframe]
    gaps = [b - a for a, b in zip(keyframes, keyframes[1:], strict=False)]
    assert gaps and max(gaps) <= 15, "GOP must stay <= 1 s at the rung's own rate"
