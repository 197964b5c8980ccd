"""FFmpeg's H.264 decoder, with each picture given out as soon as it can be shown.

FFmpeg gives a picture out only once more pictures than the SPS's reorder depth wait behind
it: with a drone's I B B P pattern two of every three pictures wait three frame intervals
(100 ms) after they arrived, where the display order needs at most one more picture
(scripts/bench_reorder.py, docs/delay.md). FFmpeg has no mode that gives out a picture
whose predecessors in display order are all in. So this decoder tells it, the only way a
decoder can be told: once every picture up to a point in display order has been decoded, it
feeds a picture that changes nothing (relay.media.skip_picture: all macroblocks skipped,
never a reference) with the order count just after that point. That picture counts towards
the depth, so FFmpeg gives out the waiting ones; it comes out itself after them, and is
dropped here. The stream's own pictures decode exactly as before (the skip picture is no
reference and takes no part in the order counts of the pictures after it).

"Every picture up to a point is in" needs to know the order counts to come: an encoder
counts frames in steps of 2 (x264, FFmpeg, hardware encoders), so a stream whose counts
are all even has a gap where a picture is still to come. A stream with an odd count, a
field, POC type 1, or a picture lost after a skip picture, is decoded as FFmpeg alone would,
from then on. POC type 2 is shown in decoding order: nothing waits, nothing is fed.

The cost: between bursts the decoder holds as many skip pictures as its reorder depth, so
an I B B P drone (depth 2) needs two per group of three when the caller lets a unit already
waiting push the pictures out (`prompt=False`). On the fleet's 1080p alpha clip: 82 skip
pictures for 120 pictures, 0.9 ms of CPU more per picture (7.0-7.6 ms to 7.9-8.6 ms,
scripts/bench_reorder.py), for pictures out 67 ms sooner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import av

from relay.media.h264 import NAL_PPS, NAL_SPS, nal_header_offsets
from relay.media.skip_picture import skip_picture
from relay.media.slice_header import (
    SLICE_HEADER_BYTES,
    PicParams,
    SeqParams,
    SliceHeader,
    read_pps,
    read_slice_header,
    read_sps,
)

log = logging.getLogger(__name__)

FAKE_PTS = -(1 << 62)  # skip pictures' pts count down from here; a stream's never do
MAX_SKIPS_PER_UNIT = 4  # the I B B P pattern needs 1-2; a B-pyramid of 3 needs 3
MAX_PENDING = 64  # pictures in the decoder; FFmpeg's DPB holds at most 16


@dataclass(frozen=True, slots=True)
class _Pending:
    epoch: int  # counts IDRs: order counts start over at each
    poc: int


class PromptDecoder:
    def __init__(self, time_base: Fraction) -> None:
        self.codec = av.CodecContext.create("h264", "r")
        # Slice threads only: frame threads would hold frames back and add delay.
        self.codec.thread_type = "SLICE"
        self._time_base = time_base
        self._sps: dict[int, SeqParams] = {}
        self._pps: dict[int, PicParams] = {}
        self._seq: SeqParams | None = None  # of the newest picture
        self._epoch = 0
        self._prev_msb = 0  # of the newest reference picture (8.2.1.1)
        self._prev_lsb = 0
        self._ref_frame_num = 0
        self._fed: set[int] = set()  # order counts decoded in this epoch, above _complete
        self._complete: int | None = None  # every picture up to this count is in
        self._pending: dict[int, _Pending] = {}  # by pts
        self._skip_pps_id = 255
        self.prompt = True  # False for good once the stream is one it cannot tell apart
        self.skip_pictures = 0
        self.pictures_lost = 0

    def decode(self, data: bytes, pts: int, prompt: bool = True) -> list[av.VideoFrame]:
        """The pictures this unit lets out; raises av.error.FFmpegError as FFmpeg does.
        `prompt`: feed skip pictures for what can come out now (False when another unit is
        about to be fed, which lets one out by itself, or when nobody waits for pictures)."""
        header = self._read(data)
        if header is not None and not header.decode_order:
            self._note(pts, header)
        try:
            frames = self._send(data, pts)
        except av.error.FFmpegError:
            self._pending.pop(pts, None)
            raise
        shown = self._collect(frames)
        if prompt and self.prompt:
            shown += self._push_out()
        return shown

    # -- what the stream says --------------------------------------------------------------

    def _read(self, data: bytes) -> SliceHeader | None:
        """Parameter sets are noted; the first slice's header is read from its first bytes
        (no copy of a whole slice: this runs on every unit)."""
        for at in nal_header_offsets(data):
            kind = data[at] & 0x1F
            if kind in (NAL_SPS, NAL_PPS):
                end = data.find(b"\x00\x00\x01", at)
                nal = data[at : len(data) if end == -1 else end]
                if kind == NAL_SPS:
                    seq = read_sps(nal)
                    if seq is not None:
                        self._sps[seq.sps_id] = seq
                    continue
                pic = read_pps(nal)
                if pic is not None:
                    self._pps[pic.pps_id] = pic
                    if pic.pps_id == self._skip_pps_id:  # the stream uses it: take another
                        free = [i for i in range(255, -1, -1) if i not in self._pps]
                        if not free:
                            self._give_up("the stream uses every PPS id")
                        self._skip_pps_id = free[0] if free else 255
            elif kind in (1, 5):
                header = read_slice_header(data[at : at + SLICE_HEADER_BYTES], self._pps, self._sps)
                if header is None:
                    self._give_up("a field, POC type 1, or unknown parameter sets")
                else:
                    self._seq = self._sps[self._pps[header.pps_id].sps_id]
                return header
        return None

    def _note(self, pts: int, header: SliceHeader) -> None:
        """The picture's order count (8.2.1.1), and what is now known to be in."""
        seq = self._seq
        assert seq is not None
        if header.idr:
            self._epoch += 1
            self._prev_msb = self._prev_lsb = 0
            self._fed.clear()
            self._complete = None
        max_lsb = 1 << seq.log2_max_poc_lsb
        lsb, prev = header.poc_lsb, self._prev_lsb
        msb = self._prev_msb
        if lsb < prev and prev - lsb >= max_lsb // 2:
            msb += max_lsb
        elif lsb > prev and lsb - prev > max_lsb // 2:
            msb -= max_lsb
        top = msb + lsb
        poc = min(top, top + header.delta_bottom)
        if header.reference:
            self._prev_msb, self._prev_lsb = msb, lsb
            self._ref_frame_num = header.frame_num
        if poc % 2:
            self._give_up(f"an odd order count ({poc})")
        if header.idr:
            self._complete = poc
        else:
            self._fed.add(poc)
        self._advance()
        self._pending[pts] = _Pending(self._epoch, poc)
        if len(self._pending) > MAX_PENDING:
            del self._pending[next(iter(self._pending))]

    def _advance(self) -> None:
        if self._complete is None:
            return
        while self._complete + 2 in self._fed:
            self._complete += 2
            self._fed.discard(self._complete)
        self._fed = {poc for poc in self._fed if poc > self._complete}

    def _give_up(self, why: str) -> None:
        if self.prompt:
            log.info("pictures come out as FFmpeg gives them: %s", why)
        self.prompt = False

    # -- the decoder -----------------------------------------------------------------------

    def _send(self, data: bytes, pts: int) -> list[av.VideoFrame]:
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = self._time_base
        return self.codec.decode(packet)

    def _collect(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """The stream's pictures among those FFmpeg gave out (skip pictures are dropped)."""
        shown = []
        for frame in frames:
            if frame.pts is not None and frame.pts <= FAKE_PTS:
                continue
            shown.append(frame)
            picture = None if frame.pts is None else self._pending.pop(frame.pts, None)
            if picture is None:
                continue
            # FFmpeg drops a picture that comes after a later one in display order: any
            # still waiting here before this one is lost.
            lost = [
                pts
                for pts, p in self._pending.items()
                if p.epoch < picture.epoch or (p.epoch == picture.epoch and p.poc < picture.poc)
            ]
            for pts in lost:
                del self._pending[pts]
            if lost:
                self.pictures_lost += len(lost)
                self._give_up(f"{len(lost)} picture(s) lost in reordering")
            if picture.epoch == self._epoch and self._complete is not None:
                # Nothing before this one can come out any more.
                self._complete = max(self._complete, picture.poc)
                self._advance()
        return shown

    def _waiting(self) -> bool:
        """A picture that could be shown is still held by the decoder."""
        complete = self._complete
        return any(
            p.epoch < self._epoch or (complete is not None and p.poc <= complete)
            for p in self._pending.values()
        )

    def _push_out(self) -> list[av.VideoFrame]:
        shown: list[av.VideoFrame] = []
        seq = self._seq
        for _ in range(MAX_SKIPS_PER_UNIT):
            if seq is None or self._complete is None or not self.prompt or not self._waiting():
                break
            poc = self._complete + 1  # after every picture in, before any still to come
            lsb = (poc - self._prev_msb) % (1 << seq.log2_max_poc_lsb)
            frame_num = (self._ref_frame_num + 1) % (1 << seq.log2_max_frame_num)
            data = skip_picture(seq, self._skip_pps_id, frame_num, lsb)
            self.skip_pictures += 1
            try:
                # Each its own pts below FAKE_PTS: _collect drops it when it comes out.
                frames = self._send(data, FAKE_PTS - self.skip_pictures)
            except av.error.FFmpegError as exc:
                self._give_up(f"the decoder refused a skip picture: {exc}")
                break
            shown += self._collect(frames)
        return shown
