"""One rung as fragmented MP4: built once per packet for every MSE viewer of the rung.

The sample (the access unit with length prefixes instead of start codes) is a transport form
of the packet, built in the encoder's thread (Rendition.want) while the rung has MSE viewers;
the 108-byte fragment header and the init segment are built on the loop by whichever viewer
needs a packet first, and cached in the packet, so every viewer sends the same bytes.
"""

from __future__ import annotations

import logging

from relay.fanout.rendition import Rendition
from relay.media.packet import EncodedPacket
from relay.media.sps import picture_size
from relay.mse import fmp4

log = logging.getLogger(__name__)

SAMPLE = "fmp4-sample"  # the transport form built in the producer's thread
FRAGMENT = "fmp4-fragment"  # moof + mdat, cached in the packet once built
DEFAULT_STEP = 3000.0  # 1/30 s on the 90 kHz clock, until frames tell the rate
# Each sample's duration is this many average frame steps. MSE takes a decode time more than
# twice the last duration after the previous one for a discontinuity and drops everything
# up to the next keyframe (up to a GOP frozen); the rung's timestamps follow the frames'
# arrival (steps of 53 to 3,333 at 30 fps were seen), and an overloaded encoder drops frames.
# A longer duration only overlaps the next picture, which replaces it.
DURATION_STEPS = 2
MAX_GAP_STEPS = 3  # < 2 * DURATION_STEPS


class MseRung:
    """The fMP4 state of one rendition: its init segment, fragment numbers and a decode
    clock that never steps back (a source restart resets the encoder's timestamps, and MSE
    would place those pictures in the past)."""

    def __init__(self, rendition: Rendition) -> None:
        self.rendition = rendition
        self.viewers = 0
        self.init: bytes | None = None
        self.codec = ""
        self.size = (0, 0)
        self._sets: tuple[bytes, bytes] | None = None
        self._sequence = 0
        self._last_pts: int | None = None
        self._time = 0
        self._step = DEFAULT_STEP  # the average step between frames (90 kHz)

    def attach(self) -> None:
        """A viewer joins: from now on the encoder builds the samples."""
        self.viewers += 1
        self.rendition.want(SAMPLE, fmp4.sample)

    def detach(self) -> None:
        """A viewer leaves; with the last one the encoder stops building samples."""
        self.viewers -= 1
        if self.viewers <= 0:
            self.rendition.unwant(SAMPLE)

    def fragment(self, item: EncodedPacket) -> bytes:
        """The packet's fragment, built once (the first viewer that needs it builds it)."""
        cached: bytes | None = item.prepared.get(FRAGMENT)
        if cached is not None:
            return cached
        sample = item.form(SAMPLE, fmp4.sample)  # normally built in the encoder's thread
        if item.keyframe:
            self._parameter_sets(item)
        self._sequence += 1
        decode_time = self._decode_time(item.rtp_timestamp)
        duration = round(self._step * DURATION_STEPS)
        header = fmp4.fragment_header(
            self._sequence, decode_time, duration, item.keyframe, len(sample)
        )
        fragment = item.prepared[FRAGMENT] = header + sample
        return fragment

    def _decode_time(self, pts: int) -> int:
        last, self._last_pts = self._last_pts, pts
        if last is None:
            return self._time
        step, average = pts - last, self._step
        # A step back (a restart) is one frame on; a gap (frames the loaded encoder dropped,
        # a stalled source, the slate) is shortened to MAX_GAP_STEPS frames: under twice the
        # last sample's duration, the browser sees no discontinuity, and a timeline shorter
        # than the wall clock only makes its buffer wait for the next picture, never lag.
        self._time += min(step, round(MAX_GAP_STEPS * average)) if step > 0 else round(average)
        if step > 0:
            self._step += (min(step, 4 * average) - average) / 8
        return self._time

    def _parameter_sets(self, item: EncodedPacket) -> None:
        found = fmp4.parameter_sets(bytes(item.packet))
        if found is None or found == self._sets:
            return
        sps, pps = found
        self._sets = found
        self.size = picture_size(sps) or self.size
        self.codec = fmp4.codec_string(sps)
        self.init = fmp4.init_segment(sps, pps, *self.size)
        log.info(
            "[mse %s/%s] init segment: %s %dx%d",
            self.rendition.stream, self.rendition.name, self.codec, *self.size,
        )  # fmt: skip
