"""Figures from the frames the player presented (glass.js's records) and the relay's rung
timeline: fps, capture -> presented delay, freezes, time per rung, recovery after a cut."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

Frame = Sequence[float]  # counter (-1: marks unread), capture Unix ms, presented Unix ms, width


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
    return {
        "frames": len(pictures),
        "fps": round(len(pictures) / span_s, 1),
        "delay_p50_ms": None if p50 is None else round(p50),
        "delay_p95_ms": None if p95 is None else round(p95),
        "freezes": len(gaps),
        "longest_freeze_s": round(max(gaps), 2) if gaps else 0.0,
        "frozen_s": round(sum(gaps), 2),
        "unread": sum(1 for f in pictures if f[0] < 0),
    }


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
