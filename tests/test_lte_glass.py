"""The bench's figures from frames at the glass (scripts/lte/glass.py): fps, delay,
freezes, recovery after a cut and the time per rung."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from lte import glass  # noqa: E402


def frames(start_ms: float, count: int, first: int = 0, delay_ms: float = 50) -> list[list[float]]:
    """30 fps pictures presented delay_ms after capture: [counter, capture, presented, width]."""
    return [
        [first + i, start_ms + i * 33.3, start_ms + i * 33.3 + delay_ms, 1280] for i in range(count)
    ]


def test_a_gap_is_a_freeze_and_recovery_counts_from_the_link_return() -> None:
    before = frames(0, 90)  # 3 s
    after = frames(5000, 60, first=150, delay_ms=80)  # 2 s of nothing, then new pictures
    shown = [*before, before[-1], *after]  # the last picture presented twice: one picture
    figures = glass.frame_figures(shown, end_ms=after[-1][2] + 33)
    assert figures["frames"] == 150
    assert figures["freezes"] == 1 and 2.0 <= figures["longest_freeze_s"] <= 2.1
    assert figures["delay_p50_ms"] in (50, 80) and figures["delay_p95_ms"] == 80
    assert 21 <= figures["fps"] <= 22  # 150 pictures from 50 ms to ~7.06 s
    assert glass.recovery_s(shown, restored_ms=4800) == 0.28  # 5080 - 4800
    assert glass.recovery_s(before, restored_ms=4800) is None  # never came back


def test_rung_shares_and_changes() -> None:
    timeline = [(0.0, None), (1.0, "720p"), (2.0, "720p"), (3.0, "360p"), (4.0, "720p")]
    assert glass.changes(timeline) == [[1.0, "720p"], [3.0, "360p"], [4.0, "720p"]]
    assert glass.rung_shares(timeline, end_s=5.0) == {"720p": 0.75, "360p": 0.25}


def test_fps_is_what_the_browser_rendered_not_what_the_reader_saw() -> None:
    """The frame callback runs on a busy main thread and misses frames the browser put on
    screen (weak LTE: 661 rendered, 620 read): fps counts the video's own rendered frames,
    fps_read those the reader saw; without the browser's count fps is fps_read."""
    seen = frames(0, 300)  # 10 s at 30 fps ...
    read = [f for i, f in enumerate(seen) if i % 10 != 3]  # ... one in ten missed by the reader
    with_quality = [[*f, None, None, 1 + f[0] - (f[0] // 15)] for f in read]  # 1 in 15 dropped
    figures = glass.frame_figures(with_quality, end_ms=seen[-1][2] + 33)
    assert figures["fps_read"] == 27.0  # 270 read over 10 s
    assert figures["fps"] == 28.1  # 281 rendered (300 less 19 the browser dropped) in 9.99 s
    assert glass.frame_figures(read, end_ms=seen[-1][2] + 33)["fps"] == 27.0
