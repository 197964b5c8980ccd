"""StreamRecorder: one stream of one incident, written by a thread of its own.

The source thread only puts references into a bounded queue (never blocks, drops counted);
this thread turns them into segment files. A write error (disk full, folder unwritable)
ends this recording with a visible error; live viewing is not touched.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from relay.media.access_unit import AccessUnit, Discontinuity
from relay.media.h264 import first_sps
from relay.recording.dts import DtsClock
from relay.recording.segment import SegmentWriter
from relay.threads import name_native_thread

log = logging.getLogger(__name__)

QUEUE_UNITS = 900  # 30 s at 30 fps: rides out a slow disk for a while
SEGMENT_S = 10.0  # a new file at the first keyframe after this


@dataclass(frozen=True)
class SegmentEvent:
    """A segment opened (stats None) or closed, for the incident's manifest."""

    stream: str
    index: int
    path: Path
    start_unix_ns: int
    closed: bool
    frames: int = 0
    duration_s: float = 0.0


@dataclass(frozen=True)
class GapEvent:
    """The source was down: nothing recorded from start to end (wall clock, ns)."""

    stream: str
    start_unix_ns: int
    end_unix_ns: int
    reason: str


Listener = Callable[[SegmentEvent], None]
FailListener = Callable[[str, str], None]
GapListener = Callable[[GapEvent], None]


def wall_ns(arrival_ns: int) -> int:
    """The wall-clock time of a monotonic arrival time."""
    return time.time_ns() - (time.monotonic_ns() - arrival_ns)


def frame_size(unit: AccessUnit) -> tuple[int, int]:
    """Width and height of a keyframe, by decoding it (about a millisecond)."""
    try:
        decoder = av.CodecContext.create("h264", "r")
        for frame in decoder.decode(av.Packet(unit.data)):
            return frame.width, frame.height
        for frame in decoder.decode(None):
            return frame.width, frame.height
    except av.error.FFmpegError:
        pass
    return 0, 0


class StreamRecorder:
    """Records one stream into `folder` as seg-00001.mp4, seg-00002.mp4, …"""

    def __init__(
        self,
        incident: str,
        stream: str,
        folder: Path,
        on_segment: Listener,
        on_fail: FailListener,
        segment_s: float = SEGMENT_S,
        on_gap: GapListener | None = None,
    ) -> None:
        self.incident, self.stream, self.folder = incident, stream, folder
        self.on_segment, self.on_fail = on_segment, on_fail
        self.segment_s = segment_s
        self.on_gap = on_gap
        self.gaps = 0
        # The source went down after this unit (arrival, monotonic ns) for this reason: the
        # gap ends with the next unit written.
        self._last_arrival_ns = 0
        self._gap: tuple[int, str] | None = None
        self.state = "recording"  # recording | stopped | failed
        self.error = ""
        self.received = 0  # units taken from the stream
        self.written = 0  # units in files
        self.dropped = 0
        self.segments = 0
        self._queue: queue.Queue[AccessUnit | Discontinuity | None] = queue.Queue(QUEUE_UNITS)
        self._skip_to_keyframe = True
        self._clock = DtsClock()
        self._writer: SegmentWriter | None = None
        self._seg_start_pts = 0
        self._size = (0, 0)
        self._seg_sps: bytes | None = None  # the open segment's SPS (its header)
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"rec-{stream}")

    def start(self) -> None:
        self._thread.start()

    def feed(self, item: AccessUnit | Discontinuity) -> None:
        """From the source thread: never blocks; on overflow skips to the next keyframe."""
        if self.state != "recording":
            return
        if isinstance(item, AccessUnit):
            self._last_arrival_ns = item.arrival_ns
            if self._skip_to_keyframe and not item.keyframe:
                return
            self._skip_to_keyframe = False
        try:
            self._queue.put_nowait(item)
            if isinstance(item, AccessUnit):
                self.received += 1
        except queue.Full:
            self.dropped += 1
            self._skip_to_keyframe = True  # a gap inside a GOP would show as garbage

    def stop(self, timeout: float = 10.0) -> None:
        """Closes the open segment and ends the thread (blocking: call from a thread)."""
        if self.state == "recording":
            self.state = "stopping"
        self._queue.put(None)
        self._thread.join(timeout)
        if self.state == "stopping":
            self.state = "stopped"

    def _run(self) -> None:
        name_native_thread()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if isinstance(item, Discontinuity):
                    self._drain_clock()
                    self._close_segment()
                    if self._gap is None and self._last_arrival_ns:
                        self._gap = (wall_ns(self._last_arrival_ns), item.reason)
                    self._clock = DtsClock()  # timestamps start over
                    continue
                for unit, dts in self._clock.push(item):
                    self._write(unit, dts)
            self._drain_clock()
            self._close_segment()
            self._end_gap(time.time_ns())  # still down when the recording stopped
        except OSError as exc:
            self._fail(f"cannot write {self.folder}: {exc.strerror or exc}")
        except Exception as exc:  # a bug must not pass silently: the recording says so
            log.exception("[recording %s/%s] recorder crashed", self.incident, self.stream)
            self._fail(f"recorder failed: {exc}")

    def _drain_clock(self) -> None:
        for unit, dts in self._clock.flush():
            self._write(unit, dts)

    def _write(self, unit: AccessUnit, dts: int) -> None:
        if unit.keyframe and self._writer is not None and self._new_sps(unit):
            # A new SPS (the drone changed resolution): the segment's header describes the
            # old pictures, so the new ones go into a segment of their own.
            self._close_segment()
        if (
            unit.keyframe
            and self._writer is not None
            and (unit.pts - self._seg_start_pts) >= self.segment_s * 90_000
        ):
            self._close_segment()
        if self._writer is None:
            if not unit.keyframe:
                return  # a file starts with a keyframe (after a failed open too)
            self._open_segment(unit)
        assert self._writer is not None
        if unit.keyframe and self._writer.stats.frames:
            self._writer.sync()  # the previous fragment is complete now: make it durable
        self._writer.write(unit, dts)
        self.written += 1

    def _new_sps(self, unit: AccessUnit) -> bool:
        sps = first_sps(unit.data)
        return sps is not None and sps != self._seg_sps

    def _open_segment(self, unit: AccessUnit) -> None:
        sps = first_sps(unit.data)
        if self._size == (0, 0) or sps != self._seg_sps:
            self._size = frame_size(unit)  # the first segment, or a new SPS (size)
        self._seg_sps = sps
        self.segments += 1
        path = self.folder / f"seg-{self.segments:05d}.mp4"
        start_ns = wall_ns(unit.arrival_ns)
        self._end_gap(start_ns)
        # The manifest names the file before it exists: a crash leaves it findable.
        self.on_segment(SegmentEvent(self.stream, self.segments, path, start_ns, False))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._writer = SegmentWriter(path, unit, *self._size)
        self._writer_start_ns = start_ns
        self._seg_start_pts = unit.pts
        log.info("[recording %s/%s] segment %s opened", self.incident, self.stream, path.name)

    def _end_gap(self, end_ns: int) -> None:
        if self._gap is None:
            return
        (start_ns, reason), self._gap = self._gap, None
        self.gaps += 1
        log.info(
            "[recording %s/%s] gap of %.1f s: %s",
            self.incident,
            self.stream,
            (end_ns - start_ns) / 1e9,
            reason,
        )
        if self.on_gap is not None:
            self.on_gap(GapEvent(self.stream, start_ns, end_ns, reason))

    def _close_segment(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        self.on_segment(
            SegmentEvent(
                self.stream,
                self.segments,
                writer.path,
                self._writer_start_ns,
                True,
                writer.stats.frames,
                round(writer.stats.duration_s, 3),
            )
        )

    def _fail(self, reason: str) -> None:
        self.state = "failed"
        self.error = reason
        log.error(
            "[recording %s/%s] recording stopped: %s (live viewing continues)",
            self.incident,
            self.stream,
            reason,
        )
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # the disk is already failing: what is written stays
                log.debug("closing a failed segment", exc_info=True)
        self.on_fail(self.stream, reason)
