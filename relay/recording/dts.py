"""Decode timestamps for a bitstream that carries presentation timestamps only.

An AccessUnit has a pts on the 90 kHz clock and arrives in decode order. MP4 needs a dts
for every sample, rising, never above its pts. Without B-frames dts = pts. With B-frames
(pts out of decode order) the dts of the i-th unit is the (i - depth)-th smallest pts seen,
where `depth` is the reorder depth (FFmpeg's muxers do the same with the SPS's
`max_num_reorder_frames`). The depth is learned from the first GOP, which is held back
until the next keyframe; afterwards units pass straight through.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from relay.media.access_unit import AccessUnit

MAX_DEPTH = 16  # H.264 allows at most 16 reordered frames
MAX_HELD = 600  # a GOP longer than this (20 s at 30 fps) is not held back in full


class DtsClock:
    """Turns units in decode order into (unit, dts) pairs with valid MP4 timing."""

    def __init__(self) -> None:
        self.depth: int | None = None  # None: still learning from the first GOP
        self._held: list[AccessUnit] = []
        self._heap: list[int] = []
        self._ranked: list[int] = []  # the smallest pts seen, in order, not yet used
        self._count = 0
        self._frame = 3000  # 90 kHz ticks per frame; refined from the pts
        self._last_dts: int | None = None
        self.clamped = 0

    def push(self, unit: AccessUnit) -> Iterator[tuple[AccessUnit, int]]:
        """Feeds one unit; yields the units whose dts is now known."""
        if self.depth is None:
            if self._held and (unit.keyframe or len(self._held) >= MAX_HELD):
                self.depth = _reorder_depth([u.pts for u in self._held])
                self._frame = _frame_ticks([u.pts for u in self._held]) or self._frame
                held, self._held = self._held, []
                for old in held:
                    yield from self._emit(old)
            else:
                self._held.append(unit)
                return
        yield from self._emit(unit)

    def flush(self) -> Iterator[tuple[AccessUnit, int]]:
        """At the end: yields what is still held back."""
        if self.depth is None:
            self.depth = _reorder_depth([u.pts for u in self._held])
            self._frame = _frame_ticks([u.pts for u in self._held]) or self._frame
            held, self._held = self._held, []
            for unit in held:
                yield from self._emit(unit)

    def _emit(self, unit: AccessUnit) -> Iterator[tuple[AccessUnit, int]]:
        depth = self.depth or 0
        heapq.heappush(self._heap, unit.pts)
        # Rank i's pts is final once `depth` more units are in: pop the smallest.
        while len(self._heap) > depth:
            self._ranked.append(heapq.heappop(self._heap))
        index = self._count - depth
        self._count += 1
        if index < 0:
            # The first `depth` units: count back from the smallest pts by whole frames.
            dts = min(self._heap) + index * self._frame
        else:
            dts = self._ranked.pop(0) if self._ranked else unit.pts
        dts = min(dts, unit.pts)
        if self._last_dts is not None and dts <= self._last_dts:
            # A reorder deeper than learned, or a pts jump: keep MP4 timing valid.
            self.clamped += 1
            dts = self._last_dts + 1
        self._last_dts = dts
        yield unit, dts


def _reorder_depth(pts: list[int]) -> int:
    """How many places a unit sits after its presentation rank, at most."""
    order = sorted(range(len(pts)), key=lambda i: pts[i])
    rank = {index: r for r, index in enumerate(order)}
    return min(MAX_DEPTH, max((i - rank[i] for i in range(len(pts))), default=0))


def _frame_ticks(pts: list[int]) -> int:
    steps = sorted(b - a for a, b in zip(sorted(pts), sorted(pts)[1:], strict=False) if b > a)
    return steps[len(steps) // 2] if steps else 0
