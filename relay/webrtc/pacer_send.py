"""The pacer's per-packet loops: a frame's packets go out while the pacing budget lasts.

`send_plain` is the fan-out's hot loop, kept to a header, a history slot and SRTP (sealed
into a scratch buffer, srtp_out.py); what it sends in one call leaves together
(Wire.send_all: one system call for a run, udp_batch.py).
`send_protected` is for a viewer whose FEC is on (ulpfec.py): each media packet goes out
wrapped in RED, and after a frame's last packet the FEC packets of the groups closed.
Both take a FrameSlice and return their Progress through it."""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable

from relay.webrtc.rtp_wire import Wire
from relay.webrtc.rtx_budget import HISTORY_SIZE, Sent
from relay.webrtc.ulpfec import FecGroup

_FIRST_MARKER_PT_SEQ = struct.Struct("!BBH")


# What the pacer hands a loop: the frame's payloads, the index of the next one to send, the
# frame's timestamp and SSRC (`rest`), those and the extension block (`tail`), the next
# sequence number, now, and the pacing budget in bytes.
FrameSlice = tuple[list[bytes], int, bytes, bytes, int, float, float]
Progress = tuple[int, int, int, float]  # next index, next sequence number, media octets, budget


def send_plain(wire: Wire, history: list[Sent | None], todo: FrameSlice) -> Progress:
    """Sends the frame's packets from the slice's index while its budget lasts."""
    payloads, index, rest, tail, sequence, now, budget = todo
    pack, first, payload_type = _FIRST_MARKER_PT_SEQ.pack, wire.first_byte, wire.payload_type
    seal: Callable[[bytes, bytes, bytes], bytes | memoryview] = wire.seal or _concat(wire)
    overhead = len(tail) + 4
    last, octets = len(payloads) - 1, 0
    out: list[bytes | memoryview] = []
    add = out.append
    while budget > 0 and index <= last:
        payload = payloads[index]
        head = pack(first, payload_type | 0x80 if index == last else payload_type, sequence)
        # The payload is shared by all viewers: the history keeps a reference to it
        # and this viewer's 12 header bytes, not a copy of the packet.
        history[sequence % HISTORY_SIZE] = (sequence, head, rest, payload, now)
        add(seal(head, tail, payload))
        size = len(payload)
        octets += size
        budget -= overhead + size
        sequence = (sequence + 1) & 0xFFFF
        index += 1
    if out:
        wire.send_all(out)
    return index, sequence, octets, budget


def _concat(wire: Wire) -> Callable[[bytes, bytes, bytes], bytes]:
    """Sealing without a Sealer: the packet as one bytes, through `protect`."""
    protect = wire.protect
    return lambda head, tail, payload: protect(head + tail + payload)


def send_protected(
    wire: Wire, fec: FecGroup, fillers: deque[int], history: list[Sent | None], todo: FrameSlice
) -> Progress:
    """Sends the frame's packets like send_plain, with FEC; each FEC packet's number goes
    to `fillers` (the pacer's retransmissions, sent next)."""
    payloads, index, rest, tail, sequence, now, budget = todo
    pack, first, media_type = _FIRST_MARKER_PT_SEQ.pack, wire.first_byte, wire.payload_type
    red_type, red_byte = fec.red_payload_type, bytes((media_type,))
    protect, sendto, address = wire.protect, wire.sendto, wire.address
    overhead = len(tail) + 5  # the header's first 4 bytes and the RED byte
    last, octets = len(payloads) - 1, 0
    # The browser XORs a packet with abs-send-time zeroed (libwebrtc zeroes the extensions
    # a sender rewrites as the packet leaves): FEC is computed so too.
    zeroed, timestamp = wire.extensions.zeroed, int.from_bytes(rest[:4], "big")
    # An FEC packet goes without the header extensions (X bit off): the receiver reads it by
    # its FEC header, and it carries a media packet's extensions and payload already (with
    # playout-delay's 4 bytes twice it outgrew SRTP's 1356-byte limit at a full payload).
    fec_head = first & 0xEF
    while budget > 0 and index <= last:
        payload = payloads[index]
        marker = 0x80 if index == last else 0
        head = pack(first, media_type | marker, sequence)
        # Retransmissions go out as the plain media packet (RTX of the media's type).
        history[sequence % HISTORY_SIZE] = (sequence, head, rest, payload, now)
        fec.add((first << 8) | media_type | marker, sequence, timestamp, zeroed, payload, now)
        sendto(
            protect(pack(first, red_type | marker, sequence) + tail + red_byte + payload), address
        )
        octets += len(payload)
        budget -= overhead + len(payload)
        sequence = (sequence + 1) & 0xFFFF
        index += 1
        if index > last:
            for body in fec.frame_end(now):
                # A lost FEC packet is a gap in the numbers, and Chromium holds the H.264
                # frames after it until the gap is filled: an RTT for a NACK, a freeze on
                # weak LTE. So each FEC packet is followed, a tick later, by an empty
                # packet with its number (RTX: the number only), which fills the gap if
                # the FEC packet was lost and is a duplicate if not; NACKs get it again.
                empty = pack(first, media_type, sequence)
                history[sequence % HISTORY_SIZE] = (sequence, empty, rest, b"", now)
                sendto(protect(pack(fec_head, red_type, sequence) + rest + body), address)
                fillers.append(sequence)
                budget -= 12 + len(body)
                sequence = (sequence + 1) & 0xFFFF
    return index, sequence, octets, budget
