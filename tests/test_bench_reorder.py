"""bench_reorder (scripts/bench_reorder.py): on a real clip from the fake drone, a B-frame's
send time, FFmpeg's output, the relay's decoder's output and the display-order floor in frame
intervals, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_reorder.py"
INTERVAL_MS = 1000 / 30


def run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), "--size", "320x240", "--seconds", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def intervals(figure: dict[str, float]) -> tuple[float, float]:
    """p50 and p95 in frame intervals (FLV keeps whole milliseconds: 33, 67, 100, 133)."""
    return round(figure["p50_ms"] / INTERVAL_MS, 1), round(figure["p95_ms"] / INTERVAL_MS, 1)


def test_an_i_b_b_p_drone_in_frame_intervals() -> None:
    done = run()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["pictures"] >= 25
    # I B B P: a P-frame leaves when it is captured, its two B-frames just after it (1 and 2
    # intervals after their capture).
    assert intervals(result["capture_to_sent"]) == (1.0, 2.0)
    # x264 declares 2 for its pyramid; one is all the I B B P order needs.
    assert (result["reorder_depth_declared"], result["reorder_depth_needed"]) == (2, 1)
    # FFmpeg gives a picture out once two more are in: 2 of 3 pictures wait 3 intervals.
    assert intervals(result["capture_to_ffmpeg_out"]) == (3.0, 4.0)
    assert intervals(result["ffmpeg_wait_after_arrival"]) == (3.0, 3.0)
    # In display order each picture could go as soon as it has arrived.
    assert intervals(result["capture_to_display_order_floor"]) == (1.0, 2.0)
    # The relay's decoder gives each out then: no wait after its arrival.
    assert result["relay_prompt"] and result["relay_skip_pictures"] > 0
    assert intervals(result["capture_to_relay_out"]) == (1.0, 2.0)
    assert intervals(result["relay_wait_after_arrival"]) == (0.0, 0.0)


def test_without_b_frames_nothing_waits() -> None:
    done = run("--without-bframes")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reorder_depth_declared"] == 0 and result["reorder_depth_needed"] == 0
    for figure in ("capture_to_sent", "capture_to_ffmpeg_out", "ffmpeg_wait_after_arrival"):
        assert intervals(result[figure]) == (0.0, 0.0), figure
    assert intervals(result["capture_to_relay_out"]) == (0.0, 0.0)
    assert result["relay_skip_pictures"] == 0


@pytest.mark.parametrize(
    "args", [["--size", "big"], ["--size", "32x32"], ["--seconds", "1"], ["--bitrate", "5"]]
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 2 and "error" in done.stderr, done.stderr
