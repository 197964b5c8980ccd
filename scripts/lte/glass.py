"""Figures from the frames the player presented (glass.js's records) and the relay's rung
timeline: fps, capture -> presented delay, freezes, time per rung, recovery after a cut."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

# counter (-1: marks unread), capture Unix ms, presented Unix ms, width, received Unix ms,
# presentedFrames, frames rendered so far (the video's playback quality; glass.js)
Frame = Sequence[float]


def quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def distinct(frames: Sequence[Frame]) -> list[Frame]:
    """Each picture once: a frame presented twice (the counter did not move) is one picture."""
    out: list[Frame] = []
    seen: set[float] = set()
    for f in frames:
        if f[0] >= 0 and f[0] in seen:
            continue
        seen.add(f[0])
        out.append(f)
    return out


def freezes(presented_ms: Sequence[float]) -> list[float]:
    """Gaps between pictures that a viewer sees as a freeze, in seconds: longer than 3x the
    typical frame interval and more than 150 ms over it (Chromium's freeze rule)."""
    gaps = [b - a for a, b in zip(presented_ms, presented_ms[1:], strict=False)]
    if not gaps:
        return []
    typical = statistics.median(gaps)
    return [g / 1000 for g in gaps if g > max(3 * typical, typical + 150)]


def frame_figures(frames: Sequence[Frame], end_ms: float) -> dict[str, Any]:
    pictures = distinct(frames)
    if not pictures:
        return {
            "frames": 0,
            "fps": 0.0,
            "fps_read": 0.0,
            "delay_p50_ms": None,
            "delay_p95_ms": None,
            "freezes": 0,
            "longest_freeze_s": None,
            "frozen_s": None,
            "unread": 0,
        }
    presented = [f[2] for f in pictures]
    delays = [f[2] - f[1] for f in pictures if f[0] >= 0]
    gaps = freezes([*presented, end_ms])  # a picture stuck until the end is a freeze too
    span_s = max(0.001, (end_ms - presented[0]) / 1000)
    p50, p95 = quantile(delays, 0.5), quantile(delays, 0.95)
    shown = rendered(frames)
    return {
        "frames": len(pictures),
        # Frames on screen per second: Chromium's count where it gives one, else those read.
        "fps": round((shown if shown is not None else len(pictures)) / span_s, 1),
        "fps_read": round(len(pictures) / span_s, 1),
        "delay_p50_ms": None if p50 is None else round(p50),
        "delay_p95_ms": None if p95 is None else round(p95),
        "freezes": len(gaps),
        "longest_freeze_s": round(max(gaps), 2) if gaps else 0.0,
        "frozen_s": round(sum(gaps), 2),
        "unread": sum(1 for f in pictures if f[0] < 0),
    }


def rendered(frames: Sequence[Frame]) -> int | None:
    """Frames the browser rendered from the first frame read to the last (its playback
    quality: total minus dropped, counted per frame, not only those the reader saw)."""
    counts = [f[6] for f in frames if len(f) > 6 and f[6] is not None]
    return int(counts[-1] - counts[0] + 1) if counts else None


def recovery_s(frames: Sequence[Frame], restored_ms: float) -> float | None:
    """From the link's return to the first new picture presented after it."""
    before = [f[0] for f in frames if f[2] < restored_ms and f[0] >= 0]
    last = max(before, default=-1)
    after = [f[2] for f in frames if f[2] >= restored_ms and f[0] > last]
    return round((min(after) - restored_ms) / 1000, 2) if after else None


def rung_shares(timeline: Sequence[tuple[float, str | None]], end_s: float) -> dict[str, float]:
    """Share of the time (from the first sample to the end) spent on each rung."""
    shares: dict[str, float] = {}
    samples = [(t, r) for t, r in timeline if r]
    for (t, rung), nxt in zip(samples, [*samples[1:], (end_s, None)], strict=False):
        shares[rung] = shares.get(rung, 0.0) + max(0.0, nxt[0] - t)
    total = sum(shares.values()) or 1.0
    return {r: round(s / total, 3) for r, s in shares.items()}


def changes(timeline: Sequence[tuple[float, str | None]]) -> list[list[Any]]:
    """The timeline as [seconds, rung] at each change (the first sample included)."""
    out: list[list[Any]] = []
    for t, rung in timeline:
        if rung and (not out or out[-1][1] != rung):
            out.append([round(t, 1), rung])
    return out


def window_pictures(frames: Sequence[Frame], start: float, end: float) -> list[Frame]:
    """Each picture once whose counter is in (start, end], marks read."""
    return [f for f in distinct(frames) if start < f[0] <= end]


def _spread(values: list[float]) -> dict[str, float | None]:
    p50, p95 = quantile(values, 0.5), quantile(values, 0.95)
    return {
        "p50_ms": None if p50 is None else round(p50, 1),
        "p95_ms": None if p95 is None else round(p95, 1),
        "max_ms": round(max(values), 1) if values else None,
    }


def delay_figures(pictures: Sequence[Frame]) -> dict[str, Any]:
    """Capture -> presented, and capture -> received where the browser gave receiveTime."""
    received = [f[4] - f[1] for f in pictures if len(f) > 4 and f[4] is not None]
    return {
        "capture_to_presented": _spread([f[2] - f[1] for f in pictures]),
        "capture_to_received": _spread(received),
    }


def window_figures(
    frames: Sequence[Frame], start: tuple[float, float], end: tuple[float, float]
) -> dict[str, Any]:
    """Figures over one window of glass.js's records (scripts/bench_glass.py). `start` and
    `end` are (newest counter read, the browser's framesDecoded) taken together at the
    window's edges: the source made end[0] - start[0] frames in between, the decoder
    decoded end[1] - start[1]; what the decoder never got is lost (in the network or the
    relay), what it decoded but the compositor never presented is counted apart (headless
    Chromium's compositor skips some). Both edges are read the same way, so a frame decoded
    but not yet presented at an edge cancels out (±1 frame at most)."""
    pictures = window_pictures(frames, start[0], end[0])
    made, decoded = end[0] - start[0], end[1] - start[1]
    return {
        "frames_made": made,
        "frames_decoded": decoded,
        "frames_presented": len(pictures),
        "frames_lost": max(0, made - decoded),
        "frames_not_presented": max(0, decoded - len(pictures)),
        **delay_figures(pictures),
    }


def per_frame_ms(b0: dict[str, Any], b1: dict[str, Any], key: str, count: str) -> float | None:
    if b0.get(key) is None or b1.get(key) is None or not b1[count] - b0[count]:
        return None
    return round((b1[key] - b0[key]) / (b1[count] - b0[count]) * 1000, 1)


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs (nested ones too); None where no run had one."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = medians([r[key] for r in runs])
        elif isinstance(value, (int, float)) or value is None:
            known = [r[key] for r in runs if r.get(key) is not None]
            out[key] = round(statistics.median(known), 1) if known else None
    return out
