"""Small self-measurement tools: histograms for stage timings, rates for fps and bitrate.

Each is written by one thread and read by the event loop; single attribute updates under the
GIL are enough, no locks on the hot path.
"""

from __future__ import annotations

import bisect
import time
from collections import deque

BUCKETS_MS = (1, 2, 5, 10, 20, 33, 50, 100, 200, 500, 1000)


class Histogram:
    """Prometheus-style cumulative buckets plus the recent window for p50/p95."""

    def __init__(self, window: int = 300, buckets: tuple[float, ...] = BUCKETS_MS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0
        self.recent: deque[float] = deque(maxlen=window)

    def observe(self, value_ms: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value_ms)] += 1
        self.total += value_ms
        self.count += 1
        self.recent.append(value_ms)

    def quantile(self, q: float) -> float | None:
        values = sorted(self.recent)
        if not values:
            return None
        return values[min(len(values) - 1, int(q * len(values)))]

    def summary(self) -> dict[str, float | None]:
        p50, p95 = self.quantile(0.5), self.quantile(0.95)
        return {
            "p50_ms": None if p50 is None else round(p50, 2),
            "p95_ms": None if p95 is None else round(p95, 2),
        }


class Rate:
    """Events and bytes per second over the last few seconds."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_ns = int(window_s * 1e9)
        self.events: deque[tuple[int, int]] = deque()
        self.total_events = 0
        self.total_bytes = 0

    def add(self, size: int, now_ns: int | None = None) -> None:
        now = time.monotonic_ns() if now_ns is None else now_ns
        self.events.append((now, size))
        self.total_events += 1
        self.total_bytes += size
        self._trim(now)

    def _trim(self, now: int) -> None:
        while self.events and now - self.events[0][0] > self.window_ns:
            self.events.popleft()

    def per_second(self) -> tuple[float, float]:
        """(events/s, bits/s) over the window; safe to call from another thread than add()."""
        now = time.monotonic_ns()
        events = [e for e in list(self.events) if now - e[0] <= self.window_ns]
        if len(events) < 2:
            return 0.0, 0.0
        span = max(1, events[-1][0] - events[0][0]) / 1e9
        bits = sum(size for _, size in events[1:]) * 8
        return (len(events) - 1) / span, bits / span
