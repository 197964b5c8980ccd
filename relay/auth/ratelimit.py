"""Per-client rate limits: one token bucket per address, in memory."""

from __future__ import annotations

import math
import time


class RateLimiter:
    """Allows `per_minute` requests per key, bursting up to that many at once."""

    MAX_KEYS = 10_000  # bounded memory under a flood of addresses

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def refund(self, key: str) -> None:
        """Gives back the token of a request that turned out not to count."""
        if key in self._buckets:
            tokens, at = self._buckets[key]
            self._buckets[key] = (min(self.capacity, tokens + 1.0), at)

    def take(self, key: str) -> float:
        """Takes one token for `key`: 0.0 when allowed, else seconds until one is free."""
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if key not in self._buckets and len(self._buckets) >= self.MAX_KEYS:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        # Full buckets carry no state worth keeping; if none are full, forget the oldest.
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.capacity
        ]
        for key in full or sorted(self._buckets, key=lambda k: self._buckets[k][1])[:1000]:
            del self._buckets[key]


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
