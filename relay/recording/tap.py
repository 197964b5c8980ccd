"""StreamTap: the recorder's hook on a Stream, called in the source's thread.

It keeps the units since the last keyframe (a recording starts with the GOP that was on
screen when the operator pressed the button; a snapshot decodes it) and hands every unit to
the stream's active recorders. Nothing here blocks: references only.
"""

from __future__ import annotations

import threading

from relay.media.access_unit import AccessUnit, Discontinuity
from relay.recording.recorder import StreamRecorder

MAX_GOP_UNITS = 600
MAX_GOP_BYTES = 32 * 1024 * 1024


class StreamTap:
    """Listener for Stream.unit_listeners."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._gop: list[AccessUnit] = []
        self._gop_bytes = 0
        self._recorders: list[StreamRecorder] = []

    def __call__(self, item: AccessUnit | Discontinuity) -> None:
        with self._lock:
            if isinstance(item, Discontinuity):
                self._gop, self._gop_bytes = [], 0
            elif item.keyframe:
                self._gop, self._gop_bytes = [item], len(item.data)
            elif (
                self._gop
                and len(self._gop) < MAX_GOP_UNITS
                and (self._gop_bytes + len(item.data) <= MAX_GOP_BYTES)
            ):
                self._gop.append(item)
                self._gop_bytes += len(item.data)
            else:
                self._gop, self._gop_bytes = [], 0  # a GOP too long to keep: wait for an IDR
            recorders = self._recorders
        for recorder in recorders:
            recorder.feed(item)

    def gop(self) -> list[AccessUnit]:
        """The units since the last keyframe (empty without a picture)."""
        with self._lock:
            return list(self._gop)

    def attach(self, recorder: StreamRecorder) -> None:
        """Starts feeding `recorder`, beginning with the current GOP."""
        with self._lock:
            for unit in self._gop:
                recorder.feed(unit)
            self._recorders = [*self._recorders, recorder]

    def detach(self, recorder: StreamRecorder) -> None:
        with self._lock:
            self._recorders = [r for r in self._recorders if r is not recorder]
