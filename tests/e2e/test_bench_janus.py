"""scripts/bench_janus.py runs end to end (not timed: the figure itself is the README's): a
relay's RTP output into Debian's janus, viewers of Janus in worker processes, and every
viewer Janus counts receives packets; the sample viewer decodes the sim's frames in order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.janus_process import Janus, JanusMissing

ROOT = Path(__file__).resolve().parents[2]


def test_bench_janus_small_run() -> None:
    try:
        Janus().stop()  # installed? (the benchmark starts its own)
    except JanusMissing as exc:
        pytest.skip(f"{exc} (scripts/test installs it as root)")
    args = ["--viewers", "3", "--runs", "1", "--seconds", "3", "--workers", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_janus.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figure = json.loads(done.stdout)
    assert figure["janus_viewers"] == [3] and figure["janus_viewers_when_0"] == [0], figure
    assert figure["viewers_connected"] == [3], figure
    assert figure["viewers_with_packets"] == [2], figure  # the counting ones; one decodes
    # Every one of them, in the window (not a rate: a loaded machine slows the sim).
    assert figure["min_packets_per_viewer"] > 0, figure
    assert figure["relay_cores_0"] > 0 and figure["relay_cores_3"] > 0, figure
    assert figure["output_fps_0"] > 0 and figure["output_fps_3"] > 0, figure
    sample = figure["sample_viewers"][0]
    assert sample["connected"] and sample["marks"] >= 5 and sample["marks_in_order"], sample
    assert sample["counter_advance"] >= sample["marks"] - 1, sample
