"""One pacing task per event loop: every TICK_S it lets each busy pacer send its share.

A timer per packet (or per burst and viewer) would cost an asyncio timer handle per wakeup:
at 100 viewers of a 720p rung that is thousands of wakeups a second. Like libwebrtc's pacer
process interval, one task wakes every 5 ms and walks only the pacers that have something
queued; when none has, the task ends, so an idle relay does not tick at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Protocol

log = logging.getLogger(__name__)

TICK_S = 0.005  # libwebrtc's pacer processes every 5 ms as well


class Drains(Protocol):
    def drain(self, now: float) -> bool:
        """Sends what the budget allows at `now`; True while it still has work queued."""

    def detached(self) -> None:
        """Told when the ticker stops walking it (drain said False, or it failed)."""


class Ticker:
    """The shared pacing task of one event loop."""

    def __init__(self) -> None:
        self.busy: dict[Drains, None] = {}  # insertion-ordered set: fair round robin
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, pacer: Drains) -> None:
        """Walks `pacer` on every tick until its drain() says it is done."""
        self.busy[pacer] = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, pacer: Drains) -> None:
        self.busy.pop(pacer, None)

    async def _run(self) -> None:
        while self.busy:
            await asyncio.sleep(TICK_S)
            self.ticks += 1
            now = time.monotonic()
            for pacer in list(self.busy):
                try:
                    more = pacer.drain(now)
                except Exception:  # one viewer's failure must not stop everyone's pacing
                    log.exception("pacer failed; its viewer is no longer paced")
                    more = False
                if not more:
                    self.busy.pop(pacer, None)
                    pacer.detached()


_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticker] = weakref.WeakKeyDictionary()


def shared_ticker() -> Ticker:
    """The running loop's ticker (one per loop: tests run many loops in one process)."""
    loop = asyncio.get_running_loop()
    ticker = _tickers.get(loop)
    if ticker is None:
        ticker = _tickers[loop] = Ticker()
    return ticker
