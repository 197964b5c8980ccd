"""Forward error correction for lossy links: ULPFEC (RFC 5109) carried in RED (RFC 2198).

On weak LTE (2 % loss, 160 ms round trip) every lost packet held its frame, and every frame
after it, until the NACKed copy came back: ~4 frames a second were never shown (issue 17).
An FEC packet is the XOR of the few media packets before it; the browser rebuilds any one of
them that went missing at once, without a round trip. Chromium recovers ULPFEC only from
packets wrapped in RED, so while a viewer's FEC is on its media packets carry a one-byte RED
header too. FEC packets take sequence numbers from the media's, after a frame's last packet
(the browser counts received ones as filling the gap; a lost one is NACKed and answered with
an empty retransmission).

The FEC is computed per viewer over the packets as they leave (its sequence numbers and
header extensions are its own), and only for viewers whose link loses packets: a group of
`size` media packets per FEC packet, fewer the more the link loses (group_for_loss), and a
group closes early at a frame's end once FEC_MAX_WAIT_S old, so a small rung's last packets
are not left waiting long for the next frames' packets to be protected.
"""

from __future__ import annotations

import struct

FEC_MAX_WAIT_S = 0.04  # a group open this long closes at the end of a frame
MIN_LOSS = 0.002  # below this share of packets lost, no FEC (retransmissions suffice)
MIN_GROUP, MAX_GROUP = 3, 12  # media packets per FEC packet (overhead 33 % .. 8 %)
LOSS_PER_GROUP = 0.1  # group = this / loss: 2 % loss -> 5 (20 % overhead), 0.5 % -> 12
MASK_BITS = 48  # the long mask (L = 1): a group may span the FEC packets of a frame's end
_WIDTH = 1600  # bytes: wider than any packet's, so XORs align on the left as ints

_FEC_HEADER = struct.Struct("!BBHLHH")  # ULPFEC header and the level-0 protection length


def group_for_loss(loss: float) -> int:
    """Media packets per FEC packet for a link losing `loss` of its packets; 0: no FEC."""
    if loss < MIN_LOSS:
        return 0
    return max(MIN_GROUP, min(MAX_GROUP, int(LOSS_PER_GROUP / loss)))


class FecGroup:
    """The media packets sent since the last FEC packet, XORed as they leave, and the FEC
    packets made of full groups, waiting for the end of the frame.

    FEC packets leave only after a frame's last packet: Chromium finds an H.264 frame by
    walking back from its marker packet over consecutive sequence numbers, so an FEC packet
    inside a frame (its sequence number counted as padding) would hide the whole frame."""

    def __init__(self, red_payload_type: int, ulpfec_payload_type: int) -> None:
        self.red_payload_type = red_payload_type
        self.ulpfec_byte = bytes((ulpfec_payload_type,))
        self.size = 0  # packets wanted per FEC packet; 0: FEC is off
        self.count = 0
        self.opened = 0.0
        self.ready: list[bytes] = []  # RED payloads of FEC packets to send at the frame's end
        self._base = self._mask = 0
        self._first_two = self._timestamp = self._length = self._longest = self._payload = 0
        self.packets = 0  # FEC packets made, for the counters

    def reset(self) -> None:
        """Forgets the open group and what waits (FEC off, or a gap in the media's numbers)."""
        self.count = 0
        self.ready.clear()

    def add(
        self,
        first_two: int,
        sequence: int,
        timestamp: int,
        extensions: bytes,
        payload: bytes,
        now: float,
    ) -> None:
        """One media packet as the browser rebuilds it from RED (the media's payload type,
        no RED byte), in parts, so that no copy of the packet is made: its first two header
        bytes, sequence number, timestamp, extension block (the values a sender rewrites as
        the packet leaves zeroed) and payload. Packets carry no CSRCs: what follows the
        12-byte header is the extension block and the payload."""
        if self.count and (sequence - self._base) & 0xFFFF >= MASK_BITS:
            self._close()
        if self.count == 0:
            self._base, self.opened, self._mask = sequence, now, 0
            self._first_two = self._timestamp = self._length = self._longest = 0
            self._payload = 0
        self.count += 1
        self._mask |= 1 << (MASK_BITS - 1 - ((sequence - self._base) & 0xFFFF))
        body = len(extensions) + len(payload)
        self._first_two ^= first_two
        self._timestamp ^= timestamp
        self._length ^= body
        self._longest = max(self._longest, body)
        after_header = int.from_bytes(extensions, "big") << (8 * len(payload))
        after_header |= int.from_bytes(payload, "big")
        self._payload ^= after_header << (8 * (_WIDTH - body))
        if self.count >= self.size:
            self._close()

    def frame_end(self, now: float) -> list[bytes]:
        """At a frame's last packet: the FEC packets to send now (the open group's too, once
        it is FEC_MAX_WAIT_S old)."""
        if self.count and now - self.opened >= FEC_MAX_WAIT_S:
            self._close()
        ready, self.ready = self.ready, []
        return ready

    def _close(self) -> None:
        """Makes the open group's FEC packet (RFC 5109: the header, a level-0 header with
        a 16-bit mask, or 48-bit when the group spans more numbers, the XORed bytes)."""
        longest, long_mask = self._longest, self._mask & 0xFFFFFFFF != 0
        self.count = 0
        self.packets += 1
        first, second = self._first_two >> 8, self._first_two & 0xFF
        header = _FEC_HEADER.pack(
            (first & 0x3F) | (0x40 if long_mask else 0),  # E = 0, L; P, X, CC recovered
            second,  # M, PT recovered
            self._base,
            self._timestamp,
            self._length,
            longest,  # protection length: all of every packet
        )
        mask = self._mask.to_bytes(6, "big") if long_mask else (self._mask >> 32).to_bytes(2, "big")
        xored = (self._payload >> (8 * (_WIDTH - longest))).to_bytes(longest, "big")
        self.ready.append(self.ulpfec_byte + header + mask + xored)
