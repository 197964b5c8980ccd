"""LoopLag: how late the event loop wakes a task that asked to sleep.

Every handler, viewer send loop and timer of the relay waits in the same loop, so the
lateness of a plain ticker is the delay anything blocking the loop (a disk write, a lock, a
long computation) adds to all of them. The ticker sleeps 10 ms at a time and records by
how much each wake-up came late; /metrics shows the histogram and recent quantiles.
"""

from __future__ import annotations

import asyncio
import logging

from relay.metrics import Histogram
from relay.tasks import cancel_and_wait

log = logging.getLogger(__name__)

TICK_S = 0.01
WINDOW = 3000  # recent quantiles over the last 30 s of ticks
# Finer than the stage buckets: the goal is a p99 of at most 20 ms.
LAG_BUCKETS_MS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 250, 500, 1000)
WARN_MS = 250.0  # a stall this long is worth a line in the log


class LoopLag:
    """A ticker task on the running loop; start() and aclose() pair up."""

    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self.histogram = Histogram(window=WINDOW, buckets=LAG_BUCKETS_MS)
        self.max_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def recent(self) -> dict[str, float | None]:
        """p50, p99 and max of the recent ticks, in ms."""
        values = sorted(self.histogram.recent)
        if not values:
            return {"p50_ms": None, "p99_ms": None, "max_ms": None}

        def at(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))], 2)

        return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(values[-1], 2)}

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.tick_s
            await asyncio.sleep(self.tick_s)
            lag_ms = max(0.0, (loop.time() - due) * 1000)
            self.histogram.observe(lag_ms)
            if lag_ms > self.max_ms:
                self.max_ms = lag_ms
            if lag_ms >= WARN_MS:
                log.warning("[loop] the event loop was blocked for %.0f ms", lag_ms)
