"""PictureJoiner: turns a publisher's RTMP video messages into FLV tags of one picture each.

DJI's controllers send what FFmpeg's FLV demuxer takes one tag at a time as one picture each
(OvenMediaEngine #1740/#1690, DJI MSDK-V5 #450, MediaMTX PR #6051, #2375):
- one picture split over several messages with the same timestamp (MTU-sized parts), each part
  a whole NAL unit or even the middle of one (the NAL's length runs past its message);
- SEI-only messages carrying the next picture's timestamp, and messages with no NAL at all.
Handed on as they come, every part became its own access unit (each decoded as a broken
picture, `fps_in` doubled) and a NAL running past its message ended the publisher with
"Invalid data found". So the joiner parses the length-prefixed NAL units itself:
- a NAL unit cut at the end of a message is completed from the next message (or dropped,
  counted, when the next message clearly is not its rest);
- messages with the same timestamp are one picture, unless a message starts a new picture
  (its first slice has first_mb_in_slice 0) while the held one already has slices;
- units without a slice (SEI, SPS/PPS only) are held and put in front of the next picture;
  empty messages are counted and dropped.
The price: a picture is handed on when the next message shows it complete, one frame
interval later (33 ms at 30 fps); at the end of the push the held picture is flushed.

That frame is paid only while needed. Once a publisher's first LEARN_PICTURES pictures each
came in one message, as FLV means it (one video message, one picture: FFmpeg, OBS and most
encoders), each picture is handed on with its message. A publisher that splits them (DJI's)
keeps the wait. Should a picture handed on early get a further part after all, that part is
dropped (counted in `early_misses`: the picture shows with a slice concealed, once) and the
publisher is joined the old way from then on.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CODEC_AVC = 7
AVC_SEQUENCE_HEADER, AVC_NALU, AVC_END_OF_SEQUENCE = 0, 1, 2
FRAME_KEY = 1
MAX_NAL = 8 * 1024 * 1024  # a length beyond this is garbage, not a NAL unit
MAX_HELD_NALS = 64  # non-picture NAL units held for the next picture; more are dropped
LEARN_PICTURES = 30  # one-message pictures in a row before pictures are handed on early


def _is_vcl(nal: bytes) -> bool:
    return 1 <= (nal[0] & 0x1F) <= 5


def _starts_picture(nal: bytes) -> bool:
    """True for a slice with first_mb_in_slice 0: ue(v) 0 is a single 1 bit."""
    return len(nal) > 1 and bool(nal[1] & 0x80)


@dataclass
class _Picture:
    timestamp: int = 0
    cts: int = 0
    key: bool = False
    nals: list[bytes] = field(default_factory=list)
    has_slice: bool = False
    parts: int = 0  # messages that brought slices, or a slice cut at their end
    rest: bytes = b""  # bytes after the last whole NAL unit: a NAL cut by the message's end
    rest_timestamp: int = 0  # the timestamp of the message that ended in `rest`


class PictureJoiner:
    """Joins one publisher's video messages into one FLV tag payload per picture."""

    def __init__(self) -> None:
        self.length_size = 4  # from the AVC sequence header's lengthSizeMinusOne
        self.counts: Counter[str] = Counter()
        self._held = _Picture()
        self._whole_run = 0  # pictures in a row that came in one message
        self._splits = False  # a picture in parts seen: never early again for this publisher
        self._missed_at: int | None = None  # the timestamp of a picture handed on too early

    @property
    def early(self) -> bool:
        """Each picture is handed on with its message (see above)."""
        return not self._splits and self._whole_run >= LEARN_PICTURES

    def push(self, timestamp: int, payload: bytes) -> list[tuple[int, bytes]]:
        """(timestamp, FLV video tag payload) of every picture this message completed."""
        if len(payload) < 2 or payload[0] & 0x0F != CODEC_AVC:
            if not payload:
                self.counts["empty_messages"] += 1
                return []
            return [*self.flush(), (timestamp, payload)]  # not AVC: FFmpeg says what it is
        if payload[1] == AVC_SEQUENCE_HEADER:
            if len(payload) > 9:
                self.length_size = (payload[9] & 0x03) + 1
            return [*self.flush(), (timestamp, payload)]
        if payload[1] != AVC_NALU:
            return [*self.flush(), (timestamp, payload)]
        cts = int.from_bytes(payload[2:5], "big", signed=True) if len(payload) >= 5 else 0
        key = payload[0] >> 4 == FRAME_KEY
        return self._nal_units(timestamp, cts, key, payload[5:])

    def _nal_units(
        self, timestamp: int, cts: int, key: bool, body: bytes
    ) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        held = self._held
        if held.rest:
            nals, rest, bad = self._split(held.rest + body)
            if timestamp == held.rest_timestamp or (not bad and not rest):
                # The rest of the cut NAL unit (same picture; or it fits exactly).
                self.counts["nal_units_completed"] += 1
                held.rest = b""
                self._add(held, timestamp, cts, key, nals, rest, joined=True)
                return self._hand_on_early()
            self.counts["nal_units_dropped"] += 1
            log.debug("a NAL unit cut at its message's end had no rest: dropped")
            held.rest = b""
        nals, rest, bad = self._split(body)
        if bad:
            self.counts["nal_units_dropped"] += 1
        if not nals and not rest:
            if not bad:
                self.counts["empty_messages"] += 1
            return out
        first_slice = next((n for n in nals if _is_vcl(n)), None)
        new_picture = timestamp != held.timestamp or (
            first_slice is not None and _starts_picture(first_slice)
        )
        handed_on = self.early or timestamp == self._missed_at
        if handed_on and first_slice is not None and not held.has_slice and not new_picture:
            return self._missed(timestamp, nals)  # more of a picture handed on already
        if held.has_slice and new_picture:
            out += self.flush()
            held = self._held
        self._add(held, timestamp, cts, key, nals, rest, joined=held.has_slice)
        return out + self._hand_on_early()

    def _hand_on_early(self) -> list[tuple[int, bytes]]:
        """The held picture now, if this publisher sends one picture a message."""
        held = self._held
        if self.early and held.has_slice and not held.rest:
            self.counts["pictures_early"] += 1
            return self.flush()
        return []

    def _missed(self, timestamp: int, nals: list[bytes]) -> list[tuple[int, bytes]]:
        """Further parts of a picture handed on early: dropped; joined as before from now."""
        if self.early:
            self.counts["early_misses"] += 1
            log.info("a picture handed on early had another part: pictures are joined again")
        self.counts["nal_units_dropped"] += sum(1 for n in nals if _is_vcl(n))
        self._splits, self._missed_at = True, timestamp
        return []

    def _add(
        self,
        held: _Picture,
        timestamp: int,
        cts: int,
        key: bool,
        nals: list[bytes],
        rest: bytes,
        joined: bool,
    ) -> None:
        if joined:
            self.counts["messages_joined"] += 1
        if not held.has_slice and any(_is_vcl(n) for n in nals):
            held.timestamp, held.cts, held.has_slice = timestamp, cts, True
        elif not held.nals and not held.has_slice:
            held.timestamp, held.cts = timestamp, cts
        held.key = held.key or key or any(n[0] & 0x1F == 5 for n in nals)
        if rest or any(_is_vcl(n) for n in nals):
            held.parts += 1
        held.nals += nals
        held.rest, held.rest_timestamp = rest, timestamp
        if not held.has_slice and len(held.nals) > MAX_HELD_NALS:
            self.counts["nal_units_dropped"] += len(held.nals)
            held.nals.clear()

    def flush(self) -> list[tuple[int, bytes]]:
        """The held picture as an FLV tag payload (nothing when it has no slice yet)."""
        held = self._held
        if not held.has_slice:
            return []
        if held.rest:
            self.counts["nal_units_dropped"] += 1
        self._held = _Picture(timestamp=held.timestamp)
        self._learn(held.parts)
        size = self.length_size
        body = b"".join(len(n).to_bytes(size, "big") + n for n in held.nals)
        header = bytes(((FRAME_KEY if held.key else 2) << 4 | CODEC_AVC, AVC_NALU))
        cts = (held.cts & 0xFFFFFF).to_bytes(3, "big")
        self.counts["pictures"] += 1
        return [(held.timestamp, header + cts + body)]

    def _learn(self, parts: int) -> None:
        """Counts pictures in a row that came in one message; one in parts ends early mode."""
        if parts != 1:
            self._splits = True
        elif not self._splits:
            self._whole_run += 1

    def _split(self, body: bytes) -> tuple[list[bytes], bytes, bool]:
        """(whole NAL units, the cut rest at the end, whether garbage was skipped)."""
        nals: list[bytes] = []
        pos, size = 0, self.length_size
        while pos < len(body):
            if pos + size > len(body):
                return nals, body[pos:], False  # even the length is cut
            length = int.from_bytes(body[pos : pos + size], "big")
            start = pos + size
            if length == 0 or length > MAX_NAL or body[start : start + 1] >= b"\x80":
                return nals, b"", True  # forbidden_zero_bit set or a wild length
            if start + length > len(body):
                return nals, body[pos:], False
            nals.append(body[start : start + length])
            pos = start + length
        return nals, b"", False
