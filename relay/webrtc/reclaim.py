"""Gives back the memory of viewers that left, soon after they leave.

A closed aiortc peer connection is a web of objects that refer to each other (peer,
transceivers, DTLS and ICE transports, their event handlers): reference counting never frees
it; only the cyclic garbage collector's oldest generation does, and Python runs that one more
rarely the more the process holds. Under churn, closed peers (each with its SRTP and DTLS
contexts, RTP history, jitter buffers) pile up between those runs, the heap grows to hold
them, and glibc keeps the freed heap mapped. So, a few seconds after viewers leave, this runs
one full collection (cheap: objects made while the relay started are frozen out of it) and
then asks glibc to return free memory to the system (in a thread: it walks the heap).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DELAY_S = 2.0  # after a close: a burst of leaving viewers ends in one collection
MIN_INTERVAL_S = 10.0  # at most one collection this often, however many leave


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where there is none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


class Reclaimer:
    """closed() after each ended peer; the collection follows, debounced and rate limited."""

    def __init__(self, delay_s: float = DELAY_S, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.delay_s, self.min_interval_s = delay_s, min_interval_s
        self.collections = 0
        self.collect_ms = 0.0  # the last full collection's time (it holds the event loop)
        self._trim = _malloc_trim()
        self._pending = 0
        self._handle: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._task: asyncio.Task[object] | None = None

    @staticmethod
    def freeze() -> None:
        """Moves what exists now (modules, config, streams) out of the collector's reach:
        full collections then look only at what was made since."""
        gc.collect()
        gc.freeze()

    def closed(self) -> None:
        self._pending += 1
        if self._handle is not None:
            return
        wait = max(self.delay_s, self._last + self.min_interval_s - time.monotonic())
        self._handle = asyncio.get_running_loop().call_later(wait, self._collect)

    def _collect(self) -> None:
        self._handle = None
        if self._task is not None and not self._task.done():
            self.closed()  # the previous trim still runs: try again later
            return
        peers, self._pending = self._pending, 0
        started = time.perf_counter()
        found = gc.collect()
        self.collect_ms = (time.perf_counter() - started) * 1000
        self._last = time.monotonic()
        self.collections += 1
        log.debug(
            "after %d closed viewers: %d objects collected in %.1f ms",
            peers,
            found,
            self.collect_ms,
        )
        if self._trim is not None:
            self._task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._trim))

    async def aclose(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
