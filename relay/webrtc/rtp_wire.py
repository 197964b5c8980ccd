"""One viewer's RTP stream as the pacer writes it: the way out, and the packets other than
first sends of media (those the pacer builds inline, per packet, as cheaply as it can)."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from relay.webrtc.srtp_out import Sealer

PADDING = 255  # bytes of one padding-only packet (RTP padding counts in one byte)
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900 (NTP epoch) to 1970 (Unix epoch)

_MARKER_PT_SEQ = struct.Struct("!BH")
_SSRC = struct.Struct("!L")
_SEQ = struct.Struct("!H")


def ntp_now() -> int:
    """The wall clock as 64-bit NTP (32.32 fixed point), without datetime arithmetic."""
    return int((time.time() + NTP_UNIX_OFFSET) * (1 << 32))


class Extensions(Protocol):
    """A viewer's RTP header extension block; only abs-send-time changes (rtp_send.py)."""

    block: bytearray
    zeroed: bytes  # the block with abs-send-time's value zeroed

    def at_time(self, ntp: int) -> bytes: ...


@dataclass(slots=True)
class Wire:
    """What a pacer writes with: one viewer's RTP stream and the way out to its socket."""

    protect: Callable[[bytes], bytes]  # SRTP
    sendto: Callable[[bytes, Any], None]  # the socket of the ICE pair nominated now
    address: Any
    connected: Callable[[], bool]  # checked once per drain, not per packet
    ssrc: int
    payload_type: int
    extensions: Extensions
    rtx_payload_type: int | None = None
    rtx_ssrc: int = 0
    rtt_s: Callable[[], float | None] = lambda: None
    # Sends a list of protected packets and says how many went in runs of one system call
    # each (udp_batch.BatchSender); None: one sendto each.
    batch: Callable[[list[bytes | memoryview]], int] | None = None
    segmented: int = 0  # packets sent in such runs, over every ICE pair this viewer had
    # SRTP straight into a scratch buffer (srtp_out.py) for the pacer's first sends of
    # media; None: `protect` of the packet as bytes. Only with a way out that is done with
    # a packet when its send returns (udp_batch.BatchSender.done_on_return).
    seal: Sealer | None = None
    first_byte: int = field(init=False)

    def __post_init__(self) -> None:
        self.first_byte = 0x90 if self.extensions.block else 0x80

    def send(self, packet: bytes) -> None:
        """Encrypts and sends one clear RTP packet."""
        self.sendto(self.protect(packet), self.address)

    def send_all(self, packets: list[bytes | memoryview]) -> None:
        """Sends protected packets, in order, together where the way out allows; then the
        sealer's scratch space is free again (what was not sent at once has been copied)."""
        try:
            if self.batch is not None:
                self.segmented += self.batch(packets)
            else:
                for packet in packets:
                    self.sendto(packet, self.address)  # type: ignore[arg-type]
        finally:
            if self.seal is not None:
                self.seal.rewind()


def rtx_packet(wire: Wire, head: bytes, payload: bytes, rtx_sequence: int, ext: bytes) -> bytes:
    """RFC 4588: the packet whose 12-byte header is `head` again, on the RTX stream (its own
    SSRC and sequence), with the original sequence number before the payload."""
    return (
        bytes((wire.first_byte,))
        + _MARKER_PT_SEQ.pack((head[1] & 0x80) | (wire.rtx_payload_type or 0), rtx_sequence)
        + head[4:8]  # the original timestamp
        + _SSRC.pack(wire.rtx_ssrc)
        + ext
        + head[2:4]  # the original sequence number
        + payload
    )


def padding_packet(wire: Wire, rtx: bool, sequence: int, timestamp: bytes, ext: bytes) -> bytes:
    """A padding-only packet (for probing): on the RTX stream, or the media's without one."""
    payload_type = (wire.rtx_payload_type or 0) if rtx else wire.payload_type
    ssrc = wire.rtx_ssrc if rtx else wire.ssrc
    return (
        bytes((wire.first_byte | 0x20,))  # P: the payload is padding only
        + _MARKER_PT_SEQ.pack(payload_type, sequence)
        + timestamp
        + _SSRC.pack(ssrc)
        + ext
        + bytes(PADDING - 1)
        + bytes((PADDING,))
    )
