"""Gives back the memory of viewers that left, soon after they leave.

A closed aiortc peer connection is a web of objects that refer to each other (the peer and
its transceivers, senders, DTLS and ICE transports, the RTP router, their event handlers,
and our lean sender's bound methods): reference counting never frees it; only the cyclic
garbage collector's oldest generation does, and Python runs that one more rarely the more
the process holds. Under churn, closed peers (each with SRTP and DTLS contexts, RTP history,
jitter buffers) piled up between those runs. A full collection after viewers leave would
free them, but it holds the event loop (measured: 0.6 s on a loaded 2-core machine with 30
viewers), so instead this cuts the web: a few seconds after a peer closed (its callbacks
have run by then) it empties the instance dictionaries of those objects, and reference
counting frees them at once. Then, at most every MIN_TRIM_INTERVAL_S, glibc is asked to
return free memory to the system (in a thread: it walks the heap).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)

UNLINK_AFTER_S = 5.0  # after close(): aiortc's last state callbacks have run by then
MIN_TRIM_INTERVAL_S = 30.0


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where there is none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


def unlink(pc: RTCPeerConnection) -> int:
    """Breaks the reference cycles of a closed peer connection; returns objects emptied."""
    objects: list[Any] = [pc]
    for transceiver in pc.getTransceivers():
        objects += [transceiver, transceiver.sender, transceiver.receiver]
        for end in (transceiver.sender, transceiver.receiver):
            dtls = getattr(end, "transport", None)
            if dtls is None:
                continue
            ice = getattr(dtls, "transport", None)
            objects += [dtls, getattr(dtls, "_rtp_router", None), ice]
            objects.append(getattr(ice, "iceGatherer", None))
    seen: set[int] = set()
    for obj in objects:
        if obj is None or id(obj) in seen or not hasattr(obj, "__dict__"):
            continue
        seen.add(id(obj))
        if hasattr(obj, "remove_all_listeners"):
            obj.remove_all_listeners()
        obj.__dict__.clear()
    return len(seen)


class Reclaimer:
    """closed(pc) after each ended peer; unlinking and trimming follow."""

    def __init__(
        self, unlink_after_s: float = UNLINK_AFTER_S, trim_interval_s: float = MIN_TRIM_INTERVAL_S
    ) -> None:
        self.unlink_after_s, self.trim_interval_s = unlink_after_s, trim_interval_s
        self.unlinked = 0
        self.trims = 0
        self._trim = _malloc_trim()
        self._trim_handle: asyncio.TimerHandle | None = None
        self._handles: dict[int, asyncio.TimerHandle] = {}  # pending unlinks
        self._next = 0
        self._last_trim = 0.0
        self._task: asyncio.Task[object] | None = None

    def closed(self, pc: RTCPeerConnection) -> None:
        # (No closure here: one holding its own timer handle would be a cycle itself.)
        self._next += 1
        self._handles[self._next] = asyncio.get_running_loop().call_later(
            self.unlink_after_s, self._unlink, self._next, pc
        )

    def _unlink(self, key: int, pc: RTCPeerConnection) -> None:
        self._handles.pop(key, None)
        if pc.connectionState != "closed":
            return  # not closed after all: leave it to the collector
        try:
            unlink(pc)
        except Exception:  # an aiortc that is built differently: the collector frees it later
            log.debug("cannot unlink a closed peer connection", exc_info=True)
            return
        self.unlinked += 1
        if self._trim is not None and self._trim_handle is None:
            wait = max(0.0, self._last_trim + self.trim_interval_s - time.monotonic())
            self._trim_handle = asyncio.get_running_loop().call_later(wait, self._start_trim)

    def _start_trim(self) -> None:
        self._trim_handle = None
        if self._trim is None or (self._task is not None and not self._task.done()):
            return
        self._last_trim = time.monotonic()
        self.trims += 1
        self._task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._trim))

    async def aclose(self) -> None:
        for handle in [*self._handles.values(), self._trim_handle]:
            if handle is not None:
                handle.cancel()
        self._handles.clear()
        self._trim_handle = None
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
