"""The transcoder's cold start (docs/lazy-rungs.md): what a rung wanted after idling gets first.

Without idle decoding, the units kept since the source's last IDR (relay.transcode.gop) are
decoded as fast as the thread goes, the pictures nothing refers to skipped, and only the
newest picture is handed on. When that catch-up is long, the IDR's own picture goes first,
labelled as a still with its age: the viewer sees the scene after x264's start, while the
catch-up runs, then the live picture. The IDR's picture is decoded apart (the stream's
decoder would hold it behind the B-frames' reordering), ahead while no rung runs, once per
source GOP; the catch-up lets the encoders get the still out first.
With idle decoding (StreamConfig.idle_decode) the reference pictures were decoded all
along, and the newest of them is handed on at once.
A mixin of relay.transcode.transcoder.Transcoder, which owns the state named below.
"""

from __future__ import annotations

import logging
import queue
import time

import av
import av.error

from relay.media.access_unit import TIME_BASE, AccessUnit, Discontinuity
from relay.metrics import Histogram
from relay.transcode.encoder import RungEncoder
from relay.transcode.gop import GopBuffer, is_reference
from relay.transcode.processors.osd import private_copy
from relay.transcode.prompt_decoder import PromptDecoder

log = logging.getLogger(__name__)

SIGNAL_LOST_S = 1.0  # no input this long: the slate goes out, a kept picture is not live
INPUT_QUEUE = 30  # one second of input at 30 fps; more would only add delay
# A catch-up over more units than this shows the IDR's picture first (a still): about 0.1 s
# of decoding on the 2-core box, less than a still's own decoding and x264 frame are worth.
STILL_AFTER_UNITS = 10
STILL_MAX_AGE_S = 10.0  # an older IDR (a long GOP) is not shown: the catch-up is the wait
# The still is repeated until the live picture comes (x264 makes tiny P-frames of it): once
# as soon as it is encoded, as a receiver may know a frame is whole only when the next one
# begins (aiortc), then seldom, as each showing costs a scale and an x264 frame that the
# catch-up waits for.
STILL_REPEAT_S = 0.25
# The catch-up waits this long at most for the wanted encoders to have the still's first
# picture out: on a busy box the two compete for the cores, and the still is what the
# viewer waits for (x264's start and IDR: 8-16 ms alone for 360p and 720p).
STILL_ENCODE_WAIT_S = 0.15


class ColdStart:
    """The cold-start half of the Transcoder (see the module's text)."""

    stream: str
    encoders: list[RungEncoder]
    cold_starts: int
    cold_start_ms: Histogram
    cold_start_skipped: int
    cold_start_stills: int
    dropped_units: int
    _gop: GopBuffer
    _queue: queue.Queue[AccessUnit | Discontinuity | str | None]
    _decoder: PromptDecoder | None
    _newest: tuple[av.VideoFrame, int] | None
    _skip_to_keyframe: bool
    _closing: bool
    _last_input: float
    # The IDR whose picture is decoded ahead (while no rung runs) and that picture (None: it
    # did not decode, and is not tried again for every unit).
    _still_ahead: tuple[AccessUnit, av.VideoFrame | None] | None
    stills_decoded_ahead: int

    def _wanted(self) -> list[RungEncoder]:
        raise NotImplementedError

    def _restart(self) -> None:
        raise NotImplementedError

    def _decode_frames(self, unit: AccessUnit, prompt: bool = False) -> list[av.VideoFrame]:
        raise NotImplementedError

    def _process_and_encode(
        self,
        frame: av.VideoFrame,
        arrival_ns: int,
        live: bool = True,
        still_s: float | None = None,
    ) -> None:
        raise NotImplementedError

    def _start_if_wanted(self) -> bool:
        """A cold start when a rung is wanted and nothing is decoded yet: the kept units
        from the last IDR on, as fast as they go, only the newest picture handed on."""
        if self._newest is not None and self._decoder is not None:
            self._hand_on_newest()
            return False  # the unit in hand (if any) is decoded live, as the next ones
        # Just the IDR kept: nothing to catch up (a rung wanted from the start, a file fed
        # at full speed), it is decoded as it comes.
        if self._decoder is not None or len(self._gop.units) < 2 or not self._wanted():
            return False
        t0 = time.perf_counter()
        self.cold_starts += 1
        self._skip_to_keyframe = False
        newest: tuple[av.VideoFrame, int] | None = None
        pending = list(self._gop.units)
        done, kept = 0, len(pending)
        still = self._hand_on_still(pending[0]) if kept > STILL_AFTER_UNITS else None
        self._still_ahead = None  # shown, or not worth showing: the catch-up is short
        if still is not None:
            self._await_still_encoded()
            self._show_still(*still)  # the first repeat: at once
        next_still = time.monotonic() + STILL_REPEAT_S
        while done < len(pending):
            # Units arriving meanwhile join in at once: the input queue holds one second,
            # and a slow machine's cold start may take longer than that.
            arrived = self._arrived_meanwhile()
            if arrived is None:
                return True  # the source restarted, or the transcoder closes
            for unit in arrived:
                if unit.keyframe:  # a fresh IDR arrived: the older units are not needed
                    pending, done, kept = [], 0, 0
                pending.append(unit)
            unit = pending[done]
            done += 1
            if done < len(pending) and not is_reference(unit.data):
                self.cold_start_skipped += 1
                continue
            frames = self._decode_frames(unit)
            if frames:
                newest = (frames[-1], unit.arrival_ns)
            if still is not None and time.monotonic() >= next_still:
                next_still = time.monotonic() + STILL_REPEAT_S
                self._show_still(*still)
            if len(pending) - max(done, kept) > 2 * INPUT_QUEUE:
                # Two seconds of units arrived meanwhile are still waiting: decoding is slower
                # than the source sends (an overloaded machine). As on an input overflow, the
                # rest is dropped and decoding resumes at the next IDR.
                self.dropped_units += len(pending) - done
                self._restart()
                break
        elapsed_ms = (time.perf_counter() - t0) * 1000
        self.cold_start_ms.observe(elapsed_ms)
        if newest is not None:
            log.info(
                "[stream %s] cold start: %d units from the last IDR in %.0f ms",
                self.stream,
                done,
                elapsed_ms,
            )
            self._process_and_encode(*newest)
        return True

    def _hand_on_still(self, idr: AccessUnit) -> tuple[av.VideoFrame, int] | None:
        """The kept IDR's picture, at once, labelled as a still of its age; returned with
        the IDR's arrival for the repeats. Decoded ahead while idle, or now."""
        if (time.monotonic_ns() - idr.arrival_ns) / 1e9 > STILL_MAX_AGE_S:
            return None
        ahead = self._still_ahead  # the caller lets it go: one still per cold start
        still = ahead[1] if ahead is not None and ahead[0] is idr else self._decode_alone(idr)
        if still is None:
            return None
        self.cold_start_stills += 1
        for encoder in self.encoders:
            encoder.still_encoded.clear()
        self._show_still(still, idr.arrival_ns)
        return still, idr.arrival_ns

    def _decode_still_ahead(self) -> None:
        """No rung runs: decode the kept IDR's picture now, once per source GOP (a 1080p IDR:
        19-22 ms alone, 38-40 ms of CPU on the loaded box; every 4 s, 0.005-0.01 cores), so a
        cold start shows it without decoding first. Called for every unit while idle; only
        a new IDR is decoded, and one that fails is not tried again."""
        units = self._gop.units
        if not units or (self._still_ahead is not None and self._still_ahead[0] is units[0]):
            return
        picture = self._decode_alone(units[0])
        self._still_ahead = (units[0], picture)
        if picture is not None:
            self.stills_decoded_ahead += 1

    def _decode_alone(self, idr: AccessUnit) -> av.VideoFrame | None:
        """The IDR's picture from a decoder of its own, drained at once: the stream's
        decoder would hold it back behind the B-frames' reordering."""
        decoder = av.CodecContext.create("h264", "r")
        packet = av.Packet(idr.data)
        packet.pts = idr.pts
        packet.time_base = TIME_BASE
        try:
            frames = decoder.decode(packet) + decoder.decode(None)
        except av.error.FFmpegError as exc:
            log.debug("[stream %s] the still did not decode: %s", self.stream, exc)
            return None
        if not frames:
            return None
        picture = frames[0]
        picture.time_base = TIME_BASE  # a bare context leaves it unset; copies carry it
        return picture

    def _await_still_encoded(self) -> None:
        """Let the wanted encoders get the still out before the catch-up takes the cores
        (bounded: a rung that skips the frame or an encoder that is slow holds nothing)."""
        deadline = time.monotonic() + STILL_ENCODE_WAIT_S
        for encoder in self._wanted():
            if not encoder.still_encoded.wait(max(0.0, deadline - time.monotonic())):
                return

    def _show_still(self, still: av.VideoFrame, idr_arrival_ns: int) -> None:
        """One showing of the still, on a copy of its own (the encoders hold it while the
        next is made). Its pts and arrival are now: it is sent now, and the fan-out must not
        skip it as a backlog; the OSD says how old the scene is."""
        now = time.monotonic_ns()
        self._process_and_encode(private_copy(still), now, still_s=(now - idr_arrival_ns) / 1e9)

    def _decode_idle(self, unit: AccessUnit) -> None:
        """No rung runs (idle_decode): keep the decoder current on the reference pictures
        only, and the newest picture for the next viewer."""
        if is_reference(unit.data):
            frames = self._decode_frames(unit)
            if frames:
                self._newest = (frames[-1], unit.arrival_ns)

    def _hand_on_newest(self) -> None:
        """A rung is wanted again after idle decoding: its first picture is the newest
        decoded one (a few frames behind the newest unit: B-frame reordering and the pictures
        nothing refers to), not one from before a gap in the input."""
        if self._newest is None or not self._wanted():
            return
        (frame, arrival_ns), self._newest = self._newest, None
        if time.monotonic_ns() - arrival_ns > SIGNAL_LOST_S * 1e9:
            return
        self.cold_starts += 1
        self.cold_start_ms.observe(0.0)  # nothing to catch up
        self._process_and_encode(frame, arrival_ns)

    def _arrived_meanwhile(self) -> list[AccessUnit] | None:
        """Units queued while a cold start decodes; None when a Discontinuity ends it."""
        units: list[AccessUnit] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return units
            if item is None:
                self._closing = True
                return None
            if isinstance(item, Discontinuity):
                self._restart()
                return None
            if isinstance(item, AccessUnit):
                self._last_input = time.monotonic()
                self._gop.add(item)
                units.append(item)
