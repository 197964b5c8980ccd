"""A rung that caps the frame rate (240p at 20 fps for the edge of a cell) encodes two of
every three frames of a 30 fps source, on a fixed schedule, with its GOP at its own rate."""

from __future__ import annotations

import random
from pathlib import Path

import av

from relay.config import RUNGS
from relay.transcode.encoder import KEYFRAME_INTERVAL_S, RungEncoder
from tests.media_gen import access_units, make_clip
from tests.transcode.test_transcoder import decode, run_transcoder


def test_frames_are_kept_on_a_20_fps_schedule_despite_jitter() -> None:
    encoder = RungEncoder("t", RUNGS["240p"], 30, publish=print, want_keyframe=lambda: False)
    assert encoder.fps == 20
    rng = random.Random(17)
    frame = av.VideoFrame(16, 16, "yuv420p")
    kept = []
    for i in range(300):  # 10 s at 30 fps on the relay's clock, +-1 ms of jitter
        frame.pts = i * 3000 + rng.randint(-90, 90)
        before = encoder.skipped
        encoder.submit(frame, 0)  # not started: the queue only keeps the newest two
        if encoder.skipped == before:
            kept.append(frame.pts)
    assert encoder.skipped == 100 and len(kept) == 200
    steps = [b - a for a, b in zip(kept, kept[1:], strict=False)]
    # One frame in three skipped: steps of one and two source frames, alternating.
    assert all(2800 <= s <= 3200 or 5800 <= s <= 6200 for s in steps), steps
    assert max(b - a for a, b in zip(kept, kept[2:], strict=False)) <= 9000 + 180


def test_240p_rung_encodes_two_thirds_of_the_frames_at_its_size_and_gop(tmp_path: Path) -> None:
    units = access_units(
        make_clip(tmp_path / "e.mp4", seconds=3.0, size=(1280, 720), high_bframes=False)
    )
    out = run_transcoder(units, ["360p", "240p"])
    low, full = out["240p"], out["360p"]
    # Both also get the slate (15 fps) once the clip has ended: compare with tolerance.
    assert len(low) <= 0.75 * len(full) + 3, (len(low), len(full))
    assert len(low) >= len(units) * 2 // 3 - 5, (len(low), len(units))
    assert {(f.width, f.height) for f in decode(low)} == {(426, 240)}
    keyframes = [i for i, p in enumerate(low) if p.keyframe]
    gaps = [b - a for a, b in zip(keyframes, keyframes[1:], strict=False)]
    assert keyframes[0] == 0 and all(g == KEYFRAME_INTERVAL_S * 20 for g in gaps), keyframes
