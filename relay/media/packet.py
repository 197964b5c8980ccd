"""EncodedPacket: one encoded frame of a rendition, as the fan-out hands it to every viewer.

It knows no transport. A transport that needs the frame in its own form (RTP payloads for
WebRTC) keeps that form in the packet's `prepared` cache, built once per packet for every
viewer of the rung (Rendition.want and publish_from_thread, relay.fanout.rendition), never
once per viewer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import av

from relay.media.access_unit import TIME_BASE

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """An encoded frame of a rung, ready for every viewer: av.Packet plus what we know of it."""

    packet: av.Packet  # type: ignore[type-arg]
    keyframe: bool
    arrival_ns: int  # when the source frame it came from arrived at the relay
    rtp_timestamp: int  # the 90 kHz media clock (the RTP clock of H.264)
    # Transport forms of `data`, by transport name: built once, shared by every viewer.
    prepared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # A cold start's still (relay.transcode.cold_start): an older picture shown on purpose.
    still: bool = False

    def form(self, transport: str, build: Callable[[bytes], T]) -> T:
        """This packet in a transport's form: the cached one, or built now and cached."""
        cached = self.prepared.get(transport)
        if cached is None:
            cached = self.prepared[transport] = build(bytes(self.packet))
        return cast(T, cached)


def encoded_packet(
    data: bytes, pts: int, keyframe: bool, arrival_ns: int, still: bool = False
) -> EncodedPacket:
    """Wraps one Annex B access unit (pts on the 90 kHz clock) for the viewers."""
    packet = av.Packet(data)
    packet.pts, packet.time_base = pts, TIME_BASE
    return EncodedPacket(packet, keyframe, arrival_ns, pts, still=still)
