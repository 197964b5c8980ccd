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
counting frees them at once. A task of the peer still running by then is ended first (aiortc
can start a sender's RTCP loop after the peer closed, when the close came during DTLS
setup; that loop would otherwise run for the life of the process). Then, at most every
MIN_TRIM_INTERVAL_S, glibc is asked to return free memory to the system (in a thread: it
walks the heap).
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


def _parts(pc: RTCPeerConnection) -> list[Any]:
    """The peer and the objects of it that refer to each other."""
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
    return [o for o in objects if o is not None and hasattr(o, "__dict__")]


def busy_tasks(pc: RTCPeerConnection) -> list[asyncio.Task[Any]]:
    """Tasks still running a method of the peer's parts. aiortc can start a sender's RTCP
    loop after the peer was closed (a close during DTLS setup), and it then runs forever."""
    ids = {id(o) for o in _parts(pc)}
    found = []
    for task in asyncio.all_tasks():
        frame = getattr(task.get_coro(), "cr_frame", None)
        if frame is None:
            continue
        # "sender": the lean send loop (rtp_send.py) is a function of the sender
        if any(id(frame.f_locals.get(name)) in ids for name in ("self", "sender")):
            found.append(task)
    return found


def unlink(pc: RTCPeerConnection) -> int:
    """Breaks the reference cycles of a closed peer connection; returns objects emptied."""
    seen: set[int] = set()
    for obj in _parts(pc):
        if id(obj) in seen:
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
        self.stray_tasks = 0  # tasks of closed peers that were still running (ended here)
        self.trims = 0
        self._trim = _malloc_trim()
        self._trim_handle: asyncio.TimerHandle | None = None
        self._handles: dict[int, asyncio.TimerHandle] = {}  # pending unlinks
        self._next = 0
        self._last_trim = 0.0
        self._task: asyncio.Task[object] | None = None

    def closed(self, pc: RTCPeerConnection, tries: int = 3) -> None:
        # (No closure here: one holding its own timer handle would be a cycle itself.)
        self._next += 1
        self._handles[self._next] = asyncio.get_running_loop().call_later(
            self.unlink_after_s, self._unlink, self._next, pc, tries
        )

    def _unlink(self, key: int, pc: RTCPeerConnection, tries: int) -> None:
        self._handles.pop(key, None)
        if pc.connectionState != "closed":
            return  # not closed after all: leave it to the collector
        stray = busy_tasks(pc)
        if stray:
            # Ended first: emptied under a running task, it would fail on a missing name.
            for task in stray:
                task.cancel()
            self.stray_tasks += len(stray)
            if tries > 1:
                self.closed(pc, tries - 1)
            return
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
