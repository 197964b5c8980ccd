"""The Transcoder: decode a stream once, run the processors, feed each rung's encoder.

It runs in a thread of its own. Its input is a small bounded queue of access units; when it
overflows, decoding skips to the next keyframe (a decoder fed a gap shows garbage), the
skipped units counted. Without input for a while it sends the slate: viewers stay connected.
Lazy rungs: only rungs somebody consumes get frames (RungEncoder.wanted). While none is
wanted nothing is decoded: the units since the last IDR are kept (relay.transcode.gop) and
decoded at once when one is wanted again, only the newest picture handed on (a cold start,
docs/lazy-rungs.md). With `idle_decode` the reference pictures are decoded while idle instead:
a viewer's start then costs one picture, not up to a GOP.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections import OrderedDict
from collections.abc import Sequence

import av
import av.error

from relay.media.access_unit import CLOCK_RATE, TIME_BASE, AccessUnit, Discontinuity
from relay.metrics import Histogram
from relay.queues import drain
from relay.supervise import WorkerThread
from relay.threads import codec_nice
from relay.transcode.cold_start import INPUT_QUEUE, SIGNAL_LOST_S, ColdStart
from relay.transcode.encoder import RungEncoder
from relay.transcode.gop import GopBuffer
from relay.transcode.processors.osd import Processor
from relay.transcode.prompt_decoder import PromptDecoder
from relay.transcode.slate import slate_frame

log = logging.getLogger(__name__)

SLATE_FPS = 15
WAKE = "wake"  # queued by wake(): a rung is wanted now, do not wait for the next unit
# Units whose arrival is kept until the decoder gives out their picture: a B-frame drone's
# decoder holds a few (FFmpeg: its reorder depth, 2 for x264's pyramid); a picture it never
# gives out (a broken unit) leaves its entry to be pushed out by newer ones.
ARRIVALS_KEPT = 32


class Transcoder(ColdStart):
    """Owns the decoder, the processors and one RungEncoder per transcoded rendition."""

    def __init__(
        self,
        stream: str,
        encoders: Sequence[RungEncoder],
        source_clock: bool = False,
        idle_decode: bool = False,
    ) -> None:
        self.stream = stream
        # While no rung runs, decode the pictures others refer to (not the third nothing
        # refers to, no OSD, no copy): 0.21-0.26 cores for a 1080p30 High+B drone, and a
        # cold start hands on the newest of them at once instead of decoding up to a GOP.
        self.idle_decode = idle_decode
        self._newest: tuple[av.VideoFrame, int] | None = None  # idle_decode's newest picture
        # Live: output pts follow the relay's clock. Offline (a benchmark, a file processed
        # as fast as it goes): they follow the source's pts, or x264's rate control would
        # see 90 frames a second and spend a third of the bits on each.
        self.source_clock = source_clock
        self.encoders = list(encoders)
        # Shared processors change the picture every rung shows (none yet: a privacy mask or a
        # thermal palette go here); the OSD is each rung's own, drawn on its scaled picture.
        self.processors: list[Processor] = []
        self.decode_ms = Histogram()
        self.process_ms = Histogram()
        self.frames_decoded = 0
        self.slate_frames = 0
        self.dropped_units = 0
        self.decode_errors = 0
        # B-frame sources: pictures fed only to let waiting ones out (prompt_decoder).
        self.skip_pictures = 0
        self.cold_starts = 0
        self.cold_start_ms = Histogram()  # decoding the kept units up to the newest picture
        self.cold_start_skipped = 0  # pictures nothing refers to, not decoded on a cold start
        self.cold_start_stills = 0  # cold starts that showed the kept IDR's picture first
        self.stills_decoded_ahead = 0  # IDR pictures decoded while idle, for the next still
        self._still_ahead: tuple[AccessUnit, av.VideoFrame | None] | None = None
        self._gop = GopBuffer()
        self._last_input = 0.0
        self._queue: queue.Queue[AccessUnit | Discontinuity | str | None] = queue.Queue(INPUT_QUEUE)
        self._skip_to_keyframe = True
        self._decoder: PromptDecoder | None = None
        self._arrivals: OrderedDict[int, int] = OrderedDict()  # unit pts -> arrival_ns
        self._last_size = (1280, 720)
        self._out_origin_ns = time.monotonic_ns()
        self._last_out_pts = -1
        # Supervised: a crash restarts the loop with a fresh decoder (relay.supervise), which
        # starts at a keyframe: the old one may be in any state.
        self.worker = WorkerThread(
            stream, "transcoder", f"dec-{stream}", self._loop, self._restart, nice=codec_nice()
        )
        self._closing = False

    @property
    def frame_size(self) -> tuple[int, int]:
        """Size of the last frame processed (the slate's size before the first one)."""
        return self._last_size

    def start(self) -> None:
        for encoder in self.encoders:
            encoder.start()
        self.worker.start()

    def feed_waiting(self, item: AccessUnit) -> None:
        """For benchmarks and files processed offline: waits for room instead of dropping."""
        self._queue.put(item)

    def feed(self, item: AccessUnit | Discontinuity) -> None:
        """Called from the source's thread; never blocks it."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # Decoding is behind: throw away what is queued and restart at a keyframe.
            self.dropped_units += drain(self._queue)
            self._queue.put_nowait(Discontinuity("transcoder overloaded"))
            self.dropped_units += 1

    def wake(self) -> None:
        """A rung has its first consumer (called on the event loop): start decoding now."""
        with contextlib.suppress(queue.Full):  # if full, the thread is busy with units
            self._queue.put_nowait(WAKE)

    @property
    def decoding(self) -> bool:
        return self._decoder is not None

    def close(self) -> None:
        """Stops the thread and every encoder; safe to call twice."""
        if self._closing:
            return
        self._closing = True
        self.worker.stop()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self.worker.join(timeout=2.0)
        for encoder in self.encoders:
            encoder.close()

    def _loop(self) -> None:
        next_slate = 0.0
        self._last_input = time.monotonic()
        while not self._closing:
            try:
                item = self._queue.get(timeout=1 / SLATE_FPS)
            except queue.Empty:
                now = time.monotonic()
                if now - self._last_input >= SIGNAL_LOST_S and now >= next_slate:
                    next_slate = now + 1 / SLATE_FPS
                    self._send_slate()
                continue
            if item is None:
                return
            if isinstance(item, str):  # WAKE: a cold start now, if the source is live
                if time.monotonic() - self._last_input < SIGNAL_LOST_S:
                    self._start_if_wanted()
                continue
            if isinstance(item, Discontinuity):
                self._restart()
                continue
            self._last_input = time.monotonic()
            self._gop.add(item)
            if self._start_if_wanted():
                continue  # the cold start decoded this unit too
            if self._wanted():
                self._decode(item)
            elif self.idle_decode:
                self._decode_idle(item)
            else:
                self._decode_still_ahead()

    def _restart(self) -> None:
        """A restarted source may bring another SPS and size: decode from its next IDR."""
        self._decoder = None
        self._newest = None
        self._still_ahead = None
        self._skip_to_keyframe = True
        self._gop.clear()

    def _wanted(self) -> list[RungEncoder]:
        """The rungs somebody consumes; the others pause. Without any, decoding stops."""
        wanted = [encoder for encoder in self.encoders if encoder.wanted()]
        for encoder in self.encoders:
            if encoder not in wanted:
                encoder.pause()
        if not wanted and self._decoder is not None and not self.idle_decode:
            log.info("[stream %s] no rung watched: decoding stops", self.stream)
            self._decoder = None
            self._skip_to_keyframe = True
        return wanted

    def _decode(self, unit: AccessUnit) -> None:
        # A picture is timed from the arrival of the unit that carried it, found by its pts,
        # not of the unit that made the decoder give it out: with B-frames that is up to
        # three frames later, and the wait is the relay's delay too (docs/delay.md).
        self._arrivals[unit.pts] = unit.arrival_ns
        if len(self._arrivals) > ARRIVALS_KEPT:
            self._arrivals.popitem(last=False)
        # A unit already waiting behind this one (a drone sends a P-frame's B-frames just
        # after it) lets the pictures out itself: skip pictures only when none waits.
        for frame in self._decode_frames(unit, prompt=self._queue.empty()):
            arrival = None if frame.pts is None else self._arrivals.pop(frame.pts, None)
            self._process_and_encode(frame, unit.arrival_ns if arrival is None else arrival)

    def _decode_frames(self, unit: AccessUnit, prompt: bool = False) -> list[av.VideoFrame]:
        """The pictures this unit lets out of the decoder. `prompt`: each as soon as every
        picture before it in display order is in (the live path; a catch-up or idle decoding
        skips pictures and has nobody waiting)."""
        if not unit.data:
            # An empty packet would put FFmpeg's decoder into draining mode for good (every
            # later packet: "End of file"); browsers' padding probes reassemble to these.
            self.dropped_units += 1
            return []
        if self._skip_to_keyframe:
            if not unit.keyframe:
                self.dropped_units += 1
                return []
            self._skip_to_keyframe = False
        if self._decoder is None:
            self._decoder = PromptDecoder(TIME_BASE)
        skips = self._decoder.skip_pictures
        t0 = time.perf_counter()
        try:
            frames = self._decoder.decode(unit.data, unit.pts, prompt)
        except av.error.FFmpegError as exc:
            # A broken unit from the drone: note it and resynchronise at the next keyframe.
            self.decode_errors += 1
            log.debug("[stream %s] decode error: %s", self.stream, exc)
            self._skip_to_keyframe = True
            return []
        self.decode_ms.observe((time.perf_counter() - t0) * 1000)
        self.frames_decoded += len(frames)
        self.skip_pictures += self._decoder.skip_pictures - skips
        return frames

    def _send_slate(self) -> None:
        if not self._wanted():
            return  # nobody to show it to
        self.slate_frames += 1
        self._process_and_encode(
            slate_frame(*self._last_size, self.stream), time.monotonic_ns(), live=False
        )

    def _process_and_encode(
        self,
        frame: av.VideoFrame,
        arrival_ns: int,
        live: bool = True,
        still_s: float | None = None,
    ) -> None:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        elif self.processors:
            # The decoder may still hold this picture as a reference: draw on a private copy
            # (a 1080p copy per frame: why the OSD is drawn on each rung's scaled picture).
            frame.make_writable()
        self._last_size = (frame.width, frame.height)
        t0 = time.perf_counter()
        for processor in self.processors:
            processor.process(frame, live)
        self.process_ms.observe((time.perf_counter() - t0) * 1000)
        # Output timestamps follow the relay's clock, not the drone's: they never go backwards
        # across restarts, B-frame reordering or slate, which WebRTC receivers need.
        if self.source_clock and frame.pts is not None:
            pts = int(frame.pts)
        else:
            pts = (time.monotonic_ns() - self._out_origin_ns) * CLOCK_RATE // 1_000_000_000
        pts = max(pts, self._last_out_pts + 1)
        self._last_out_pts = pts
        frame.pts = pts
        frame.time_base = TIME_BASE
        for encoder in self._wanted():
            encoder.submit(frame, arrival_ns, live, still_s)
