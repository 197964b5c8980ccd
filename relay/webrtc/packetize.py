"""Packetize once: RTP payloads of an encoded frame are built once, shared by all viewers.

aiortc's sender packetizes every frame for every viewer (H264Encoder.pack). The payloads
depend on the frame's bytes alone, so the relay builds them once per packet: a viewer's
track asks its rendition for the RTP form (Rendition.want), which the rendition then builds
in the producer's thread (the rung's encoder, or the source for passthrough) and keeps in
the packet (EncodedPacket.form). Each viewer's sender gets an encoder that hands those
payloads back. Encryption, sequence numbers and SSRC stay per viewer, as they must.
"""

from __future__ import annotations

from typing import Any

from aiortc.codecs.base import Encoder
from aiortc.codecs.h264 import H264Encoder

RTP = "rtp"  # the transport's key in EncodedPacket.prepared


def packetize(annexb: bytes) -> list[bytes]:
    """The RTP payloads (single NAL, STAP-A, FU-A) of one Annex B access unit."""
    return H264Encoder._packetize(H264Encoder._split_bitstream(annexb))


class PrepacketizedEncoder(Encoder):
    """One per viewer's sender: returns the payloads its track announced for the packet."""

    def __init__(self) -> None:
        self._packet: Any = None
        self._payloads: list[bytes] = []
        self._timestamp = 0
        self._fallback = H264Encoder()
        self.shared = 0  # frames sent with the shared payloads
        self.fallbacks = 0  # frames this viewer had to packetize itself

    def expect(self, packet: Any, payloads: list[bytes], timestamp: int) -> None:
        """Called by the track just before it hands `packet` to the sender."""
        self._packet, self._payloads, self._timestamp = packet, payloads, timestamp

    def pack(self, packet: Any) -> tuple[list[bytes], int]:
        if packet is self._packet:
            self.shared += 1
            return self._payloads, self._timestamp
        self.fallbacks += 1
        return self._fallback.pack(packet)

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("the relay sends encoded packets only; no viewer has an encoder")
