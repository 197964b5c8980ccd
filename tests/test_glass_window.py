"""bench_glass's window figures (scripts/lte/glass.py): frames the decoder never got are
lost, frames decoded but never presented are counted apart, delays per picture."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from lte import glass  # noqa: E402


def test_lost_apart_from_not_presented() -> None:
    # Pictures 11..40 made; 35 and 36 never decoded (lost), 20 decoded but not presented;
    # 25 presented twice (one picture). [counter, capture, presented, width, received].
    shown = [c for c in range(11, 41) if c not in (20, 35, 36)]
    frames = [[c, c * 33.0, c * 33.0 + 50 + c % 3, 1280, c * 33.0 + 30] for c in shown]
    frames.insert(15, frames[14])
    figures = glass.window_figures(frames, start=(10, 100), end=(40, 128))
    assert figures["frames_made"] == 30 and figures["frames_decoded"] == 28
    assert figures["frames_lost"] == 2 and figures["frames_not_presented"] == 1
    assert figures["frames_presented"] == 27
    assert figures["capture_to_presented"]["p50_ms"] == 51.0
    assert figures["capture_to_presented"]["max_ms"] == 52.0
    assert figures["capture_to_received"] == {"p50_ms": 30.0, "p95_ms": 30.0, "max_ms": 30.0}


def test_medians_of_runs() -> None:
    runs = [{"a": 1, "b": {"c": None}}, {"a": 3, "b": {"c": 4}}, {"a": 2, "b": {"c": 6}}]
    assert glass.medians(runs) == {"a": 2, "b": {"c": 5.0}}
